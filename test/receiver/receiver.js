#!/usr/bin/env node
/*
 * receiver.js -- Standard Webhooks test receiver for the `webhook` PostgreSQL
 * extension's tests.
 *
 * An HTTP server (Node's own `http` module) that records every webhook it
 * receives, checks its signature with the `standardwebhooks` package, and
 * answers the way the test told it to (status, Retry-After, delay, dropped
 * connection, trickling or huge bodies, ...).  Tests drive it over a small
 * JSON control API on the same port, or read its --log file.
 *
 * COMMAND LINE
 *   node receiver.js [--port N] [--host ADDR] [--secret whsec_...]...
 *                    [--public-key whpk_...]...
 *                    [--port-file PATH] [--state-file PATH] [--log PATH]
 *                    [--keepalive-ms N] [--quiet] [--verbose]
 *
 *   --port N          port to listen on; 0 (the default) picks a free one.
 *   --host ADDR       address to listen on (default 127.0.0.1).
 *   --secret S        a "whsec_<base64>" secret; repeatable.  More can be
 *                     added at run time (POST /_control/secret).
 *   --public-key K    a "whpk_<base64>" Ed25519 public key, which verifies
 *                     v1a signatures; repeatable (POST /_control/public_key
 *                     adds more at run time).
 *   --port-file PATH  also write the port number (and a newline) to PATH,
 *                     atomically (written to PATH.tmp, then renamed).
 *   --state-file PATH write {"port": N, "pid": P} as one JSON line to PATH,
 *                     atomically as well.
 *   --log PATH        append each recorded entry to PATH as one JSON line.
 *                     Lines are written in batches (one write() per turn of
 *                     the event loop) and each answer waits for its line, so
 *                     once a client has seen the answer the line is in the
 *                     file.
 *   --keepalive-ms N  idle keep-alive timeout of the server (default 65000;
 *                     Node's own default of 5 s would make the server close
 *                     idle connections under the client's feet in tests).
 *   --quiet           print nothing on stderr.
 *   --verbose         print one line per recorded request on stderr
 *                     (off by default: a parent that does not drain stderr
 *                     would otherwise block this process).
 *
 *   On start it prints exactly ONE line to stdout: {"port": N}
 *   (nothing else is ever printed on stdout).  SIGTERM / SIGINT close the
 *   server and all connections, write out the log and exit with status 0
 *   (the handlers are in place by the time the port line is printed; a
 *   signal sent before that kills the process the default way).
 *
 * RECORDED REQUESTS
 *   Every request whose path does not start with /_control/ is read in full
 *   and recorded as an entry:
 *     { seq          1, 2, 3, ... (never reset, not even by /_control/reset)
 *       time_ms      arrival of the complete body, ms since the epoch with
 *                    sub-ms precision (performance.timeOrigin + now())
 *       method, url  as sent ("url" includes the query string)
 *       path         the URL's path without the query string
 *       headers      request headers, names lower-cased (Node joins repeated
 *                    headers with ", ")
 *       body         the body decoded as UTF-8
 *       body_bytes   its length in bytes, as received
 *       conn         number of the TCP connection it came on (1, 2, ...)
 *       verified     true if a signature verifies under ANY known secret
 *                    or public key
 *       verify_error null when verified, else the library's message(s),
 *                    e.g. "No matching signature found", "Message timestamp
 *                    too old", "Missing required headers"
 *       matched_secret  the secret that verified it, or null
 *       matched_public_key  the public key that verified it, or null
 *       matched_scheme  "v1" or "v1a", whichever verified it, or null
 *       answered     the status answered, or "drop" for a dropped connection
 *       batch_members  for a batch (a body that is a JSON array), the "id" of
 *                    each element in order; null for any other body
 *       overlapped   another request to the path was there at the same time
 *     }
 *   Verification is `new Webhook(secret).verify(body, headers)` of the
 *   standardwebhooks package (which accepts a space-separated list of
 *   "v1,<sig>" signatures and enforces a 5 minute timestamp tolerance).
 *   v1a signatures are checked with Node's own crypto.verify (Ed25519) under
 *   each public key, as the specification says: the header is a list of
 *   space-separated signatures, any one that verifies is enough, and
 *   versions other than the key's are passed over; the same 5 minute
 *   tolerance applies, with the library's messages.
 *
 * BEHAVIOURS (how to answer)
 *   A behaviour is a JSON object; all fields are optional:
 *     status       HTTP status (default 204, or 200 when there is a body,
 *                  trickle or huge_mb)
 *     retry_after  value of a Retry-After header (string or number)
 *     headers      {name: value, ...} extra response headers
 *     body         response body text
 *     delay_ms     wait this long before answering (or dropping)
 *     drop         true: destroy the socket without answering
 *     close        true: answer with "Connection: close" and close
 *     trickle      true: send the headers, then one byte ("x") per
 *                  trickle_interval_ms (default 1000) until the client gives up
 *     flaky, flaky_status  fail a random share of the requests (see
 *                  "Flaky answers" below)
 *     huge_mb      answer with a body of this many MiB, streamed in chunks
 *     chunked      with huge_mb: no Content-Length (chunked encoding), so the
 *                  client cannot know the size in advance
 *     times        apply to the next N requests only (see below)
 *   Each path (exact match on the path, query string ignored) has a queue of
 *   limited behaviours (those with `times`) and one permanent behaviour
 *   (the last one set without `times`).  A request uses the head of its
 *   path's queue (consuming one of its `times`; it leaves the queue when
 *   used up), else its path's permanent behaviour, else the same from the
 *   default (path null) settings, else the built-in default: 204, empty
 *   body, keep-alive.  So "times:2 status 500" followed by nothing answers
 *   500, 500, then whatever applied before.
 *
 * CONTROL API (JSON in and out, on the same port; never recorded)
 *   GET  /_control/health      {"ok": true, "port": N, "pid": P}
 *   POST /_control/secret      {"secret": "whsec_..."} adds a secret;
 *                              with "replace": true it replaces all secrets;
 *                              {"clear": true} removes all.
 *                              Answers {"secrets": N}; 400 on a bad secret.
 *   POST /_control/public_key  {"public_key": "whpk_..."} adds a key, with
 *                              "replace" and "clear" as for secrets.
 *                              Answers {"public_keys": N}; 400 on a bad key.
 *   POST /_control/verify      {"headers": {...}, "body": "..."}: verifies
 *                              a request without recording it (a test
 *                              changes a delivered copy and asks); answers
 *                              {verified, error, matched_secret,
 *                              matched_public_key, matched_scheme}.
 *   POST /_control/behaviour   {"path": "/x" | null, "behaviour": {...}}
 *                              appends (see BEHAVIOURS; null = default);
 *                              {"path": "/x" | null, "reset": true} clears
 *                              that path's settings; {"all": true,
 *                              "reset": true} clears every path's.
 *   GET  /_control/behaviour   the current settings, for debugging.
 *   GET  /_control/requests    all entries as a JSON array; filters:
 *                              ?path=/x (exact path), ?since=SEQ (seq > SEQ)
 *   GET  /_control/stats       {count, verified, unverified, distinct_ids,
 *                               by_path: {"/x": {count, verified, unverified}},
 *                               connections, webhook_connections,
 *                               open_connections, last_seq}
 *                              connections: TCP connections accepted (control
 *                              ones included); webhook_connections: those that
 *                              carried at least one recorded request;
 *                              open_connections: currently open.
 *   POST /_control/reset       forgets the recorded entries and zeroes the
 *                              stats, connection counters included (secrets,
 *                              behaviours and seq numbering are kept).
 */
'use strict';

const crypto = require('crypto');
const http = require('http');
const fs = require('fs');
const { performance } = require('perf_hooks');
const { Webhook } = require('standardwebhooks');

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

function usage(msg) {
    if (msg) process.stderr.write(`receiver: ${msg}\n`);
    process.stderr.write(
        'usage: node receiver.js [--port N] [--host ADDR] [--secret whsec_...]... ' +
        '[--public-key whpk_...]... [--port-file PATH] [--state-file PATH] [--log PATH] [--keepalive-ms N] ' +
        '[--quiet] [--verbose]\n');
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {
        port: 0, host: '127.0.0.1', secrets: [], publicKeys: [], portFile: null, stateFile: null,
        log: null, keepAliveMs: 65000, quiet: false, verbose: false,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
        case '--port': opts.port = Number(val()); break;
        case '--host': opts.host = val(); break;
        case '--secret': opts.secrets.push(val()); break;
        case '--public-key': opts.publicKeys.push(val()); break;
        case '--port-file': opts.portFile = val(); break;
        case '--state-file': opts.stateFile = val(); break;
        case '--log': opts.log = val(); break;
        case '--keepalive-ms': opts.keepAliveMs = Number(val()); break;
        case '--quiet': opts.quiet = true; break;
        case '--verbose': opts.verbose = true; break;
        case '-h': case '--help': usage(); break;
        default: usage(`unknown argument ${a}`);
        }
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
        usage('bad --port');
    if (!Number.isFinite(opts.keepAliveMs) || opts.keepAliveMs < 0)
        usage('bad --keepalive-ms');
    return opts;
}

const opts = parseArgs(process.argv.slice(2));

function info(msg) {
    if (!opts.quiet) process.stderr.write(`receiver: ${msg}\n`);
}

/* ------------------------------------------------------------------ */
/* Secrets and verification                                            */
/* ------------------------------------------------------------------ */

/* Known secrets, each with its Webhook instance (built once: the base64
 * decoding of the key is not repeated for every request). */
let secrets = [];

/* Adds a secret; throws on one the library refuses (bad base64, empty). */
function addSecret(secret) {
    if (typeof secret !== 'string' || secret === '')
        throw new Error('secret must be a non-empty string');
    if (secrets.some((s) => s.secret === secret)) return;
    secrets.push({ secret, wh: new Webhook(secret) });
}

/* Known Ed25519 public keys ("whpk_" + base64 of 32 bytes), each with its
 * KeyObject. */
let publicKeys = [];

/* Adds a public key; throws on one that is not "whpk_" and 32 bytes. */
function addPublicKey(key) {
    if (typeof key !== 'string' || !key.startsWith('whpk_'))
        throw new Error('public key must be a string "whpk_<base64>"');
    const raw = Buffer.from(key.slice(5), 'base64');
    if (raw.length !== 32 || raw.toString('base64') !== key.slice(5))
        throw new Error('public key must be the base64 encoding of 32 bytes');
    if (publicKeys.some((k) => k.key === key)) return;
    const obj = crypto.createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
        format: 'jwk',
    });
    publicKeys.push({ key, obj });
}

/* Header value by lower-case name, from Node's headers or a plain object
 * whose names may be in any case. */
function header(headers, name) {
    for (const k of Object.keys(headers))
        if (k.toLowerCase() === name) return headers[k];
    return undefined;
}

/* Verifies v1a signatures under one public key, as the specification
 * says; throws with the standardwebhooks library's messages. */
function verifyV1a(k, body, headers) {
    const id = header(headers, 'webhook-id');
    const ts = header(headers, 'webhook-timestamp');
    const sigs = header(headers, 'webhook-signature');
    if (!id || !ts || !sigs) throw new Error('Missing required headers');
    const t = Number(ts);
    if (!/^[0-9]+$/.test(ts) || !Number.isSafeInteger(t))
        throw new Error('Invalid Signature Headers');
    const now = Math.floor(Date.now() / 1000);
    if (now - t > 5 * 60) throw new Error('Message timestamp too old');
    if (t - now > 5 * 60) throw new Error('Message timestamp too new');
    const content = Buffer.from(`${id}.${t}.${body}`, 'utf8');
    for (const item of sigs.split(' ')) {
        const comma = item.indexOf(',');
        if (comma < 0 || item.slice(0, comma) !== 'v1a') continue;
        const sig = Buffer.from(item.slice(comma + 1), 'base64');
        if (sig.length === 64 && crypto.verify(null, content, k.obj, sig))
            return;
    }
    throw new Error('No matching signature found');
}

/* Verifies a body against every known secret and public key.
 * Returns {verified, error, matched, matched_public_key, matched_scheme}. */
function verify(body, headers) {
    const none = { matched: null, matched_public_key: null, matched_scheme: null };
    if (secrets.length === 0 && publicKeys.length === 0)
        return { verified: false, error: 'no secrets configured', ...none };
    const errors = [];
    const failed = (e) => {
        const m = (e && e.message) || String(e);
        if (!errors.includes(m)) errors.push(m);
    };
    for (const s of secrets) {
        try {
            // jsonParse: false -- a non-JSON body must not count as a bad signature.
            s.wh.verify(body, headers, { jsonParse: false });
            return { verified: true, error: null, ...none, matched: s.secret,
                matched_scheme: 'v1' };
        } catch (e) { failed(e); }
    }
    for (const k of publicKeys) {
        try {
            verifyV1a(k, body, headers);
            return { verified: true, error: null, ...none,
                matched_public_key: k.key, matched_scheme: 'v1a' };
        } catch (e) { failed(e); }
    }
    return { verified: false, error: errors.join('; '), ...none };
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/* ------------------------------------------------------------------ */

/* A batch is a JSON array of events, each with its own webhook-id as "id";
 * its signature is the request's, checked like any other (verify above).
 * Returns the members' ids in order, or null when the body is no batch. */
function batchMembers(body) {
    let parsed;
    try { parsed = JSON.parse(body); } catch (e) { return null; }
    if (!Array.isArray(parsed)) return null;
    return parsed.map((el) => (el && typeof el === 'object' ? el.id : null));
}

/* ------------------------------------------------------------------ */
/* Behaviours                                                          */
/* ------------------------------------------------------------------ */

const BEHAVIOUR_KEYS = new Set(['status', 'retry_after', 'headers', 'body', 'delay_ms',
    'drop', 'close', 'trickle', 'trickle_interval_ms', 'huge_mb', 'chunked', 'times']);

/* Checks a behaviour object from the control API; throws with a message. */
function checkBehaviour(b) {
    if (b === null || typeof b !== 'object' || Array.isArray(b))
        throw new Error('behaviour must be an object');
    for (const k of Object.keys(b))
        if (!BEHAVIOUR_KEYS.has(k)) throw new Error(`unknown behaviour key "${k}"`);
    const posNum = (k) => {
        if (b[k] !== undefined && !(typeof b[k] === 'number' && b[k] >= 0))
            throw new Error(`${k} must be a non-negative number`);
    };
    ['delay_ms', 'huge_mb', 'trickle_interval_ms'].forEach(posNum);
    if (b.status !== undefined &&
        !(Number.isInteger(b.status) && b.status >= 100 && b.status <= 999))
        throw new Error('status must be an integer 100..999');
    if (b.times !== undefined && !(Number.isInteger(b.times) && b.times >= 1))
        throw new Error('times must be an integer >= 1');
    if (b.headers !== undefined &&
        (b.headers === null || typeof b.headers !== 'object' || Array.isArray(b.headers)))
        throw new Error('headers must be an object');
    if (b.body !== undefined && typeof b.body !== 'string')
        throw new Error('body must be a string');
    checkFlaky(b);
}

/* Settings per path: Map key = path string, or null for the default.
 * Value: {queue: [{behaviour, left}], permanent: behaviour|null}. */
const behaviours = new Map();

function settingsFor(path, create) {
    let s = behaviours.get(path);
    if (!s && create) {
        s = { queue: [], permanent: null };
        behaviours.set(path, s);
    }
    return s;
}

/* Takes the behaviour for one request on `path` from `path`'s settings,
 * consuming one use of a limited behaviour.  Returns null if none. */
function takeFrom(path) {
    const s = behaviours.get(path);
    if (!s) return null;
    if (s.queue.length > 0) {
        const head = s.queue[0];
        if (--head.left <= 0) s.queue.shift();
        return head.behaviour;
    }
    return s.permanent;
}

const BUILTIN_BEHAVIOUR = Object.freeze({});

function behaviourFor(path) {
    return takeFrom(path) || takeFrom(null) || BUILTIN_BEHAVIOUR;
}

/* ------------------------------------------------------------------ */
/* Recorded entries and statistics                                     */
/* ------------------------------------------------------------------ */

let entries = [];
let seq = 0;
let stats;
let generation = 0;      // bumped by /_control/reset (for connection counts)
let connSeq = 0;         // numbers TCP connections, never reset
const openSockets = new Set();

function resetStats() {
    stats = {
        count: 0, verified: 0, unverified: 0,
        ids: new Set(), byPath: new Map(),
        connections: 0, webhookConnections: 0,
    };
}
resetStats();

let logFd = null;
if (opts.log) {
    try {
        logFd = fs.openSync(opts.log, 'a');
    } catch (e) {
        usage(`cannot open log ${opts.log}: ${e.message}`);
    }
}

/* Log lines are written in batches, once per turn of the event loop, and the
 * answers to their requests wait for that write: the line is in the file
 * before the client sees the answer, at one write() per batch instead of one
 * per request. */
let pendingLines = [];
let pendingAnswers = [];
let flushScheduled = false;

function flushLog() {
    flushScheduled = false;
    const lines = pendingLines, answers = pendingAnswers;
    pendingLines = [];
    pendingAnswers = [];
    if (logFd !== null && lines.length > 0) fs.writeSync(logFd, lines.join(''));
    for (const fn of answers) fn();
}

/* Runs fn once the log lines recorded so far are written. */
function afterLog(fn) {
    if (logFd === null) return fn();
    pendingAnswers.push(fn);
    if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushLog);
    }
}

function record(entry, socket) {
    entries.push(entry);
    stats.count++;
    if (entry.verified) stats.verified++; else stats.unverified++;
    const id = entry.headers['webhook-id'];
    if (id !== undefined) stats.ids.add(id);
    let p = stats.byPath.get(entry.path);
    if (!p) {
        p = { count: 0, verified: 0, unverified: 0 };
        stats.byPath.set(entry.path, p);
    }
    p.count++;
    if (entry.verified) p.verified++; else p.unverified++;
    if (socket.whGeneration !== generation) {
        socket.whGeneration = generation;
        stats.webhookConnections++;
    }
    if (logFd !== null) pendingLines.push(JSON.stringify(entry) + '\n');
    if (opts.verbose && !opts.quiet) {
        process.stderr.write(`receiver: #${entry.seq} ${entry.method} ${entry.url} ` +
            `verified=${entry.verified} -> ${entry.answered}\n`);
    }
}

function statsJson() {
    const byPath = {};
    for (const [k, v] of stats.byPath) byPath[k] = v;
    return {
        count: stats.count,
        verified: stats.verified,
        unverified: stats.unverified,
        distinct_ids: stats.ids.size,
        by_path: byPath,
        connections: stats.connections,
        webhook_connections: stats.webhookConnections,
        open_connections: openSockets.size,
        last_seq: seq,
    };
}

/* ------------------------------------------------------------------ */
/* Answering webhook requests                                          */
/* ------------------------------------------------------------------ */

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/* Timers of delayed / trickling answers, cleared on shutdown. */
const timers = new Set();

function later(ms, fn) {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
}

function statusOf(b) {
    if (b.status !== undefined) return b.status;
    return (b.body !== undefined || b.trickle || b.huge_mb !== undefined) ? 200 : 204;
}

/* Response headers for behaviour b (without Content-Length). */
function headersOf(b) {
    const h = {};
    if (b.headers) for (const k of Object.keys(b.headers)) h[k] = String(b.headers[k]);
    if (b.retry_after !== undefined) h['Retry-After'] = String(b.retry_after);
    if (b.close) h['Connection'] = 'close';
    return h;
}

function answer(req, res, b) {
    if (res.destroyed || req.socket.destroyed) return;   // client gave up meanwhile
    if (b.drop) {
        req.socket.destroy();
        return;
    }
    const status = statusOf(b);
    const h = headersOf(b);

    if (b.trickle) {
        if (!h['Content-Type']) h['Content-Type'] = 'text/plain';
        res.writeHead(status, h);
        res.flushHeaders();
        const interval = b.trickle_interval_ms !== undefined ? b.trickle_interval_ms : 1000;
        const t = setInterval(() => {
            if (res.destroyed || res.writableEnded) return;
            res.write('x');
        }, interval);
        timers.add(t);
        res.on('close', () => { clearInterval(t); timers.delete(t); });
        return;
    }

    if (b.huge_mb !== undefined) {
        let left = Math.round(b.huge_mb * MiB);
        if (!h['Content-Type']) h['Content-Type'] = 'application/octet-stream';
        if (!b.chunked) h['Content-Length'] = String(left);
        res.writeHead(status, h);
        // Stream in chunks, honouring back-pressure; stop if the client leaves.
        const pump = () => {
            while (left > 0 && !res.destroyed) {
                const n = Math.min(left, CHUNK.length);
                left -= n;
                const ok = res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
                if (!ok) { res.once('drain', pump); return; }
            }
            if (!res.destroyed) res.end();
        };
        pump();
        return;
    }

    if (b.body !== undefined) {
        const buf = Buffer.from(b.body, 'utf8');
        if (!h['Content-Type']) h['Content-Type'] = 'text/plain; charset=utf-8';
        h['Content-Length'] = String(buf.length);
        res.writeHead(status, h);
        res.end(buf);
    } else {
        // 204/304 must not carry a Content-Length; others say 0.
        if (status !== 204 && status !== 304 && status >= 200) h['Content-Length'] = '0';
        res.writeHead(status, h);
        res.end();
    }
}

function handleWebhook(req, res, url) {
    const chunks = [];
    let bytes = 0;
    req.on('data', (c) => { chunks.push(c); bytes += c.length; });
    req.on('end', () => {
        const time_ms = performance.timeOrigin + performance.now();
        const body = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, bytes)).toString('utf8');
        const v = verify(body, req.headers);
        const path = url.pathname;
        const b = flakyBehaviour(behaviourFor(path));
        const entry = {
            seq: ++seq,
            time_ms,
            method: req.method,
            url: req.url,
            path,
            headers: req.headers,
            body,
            body_bytes: bytes,
            conn: req.socket.whConn,
            verified: v.verified,
            verify_error: v.error,
            matched_secret: v.matched,
            matched_public_key: v.matched_public_key,
            matched_scheme: v.matched_scheme,
            answered: b.drop ? 'drop' : statusOf(b),
            batch_members: batchMembers(body),
        };
        record(entry, req.socket);
        trackOverlap(entry, res);
        afterLog(() => {
            if (b.delay_ms) later(b.delay_ms, () => answer(req, res, b));
            else answer(req, res, b);
        });
    });
}

/* ------------------------------------------------------------------ */
/* Flaky answers, and requests that overlap                            */
/* ------------------------------------------------------------------ */

/*
 * Behaviour key "flaky": a share in [0, 1] of the requests, drawn at
 * random, that are answered with "flaky_status" (default 500) instead of
 * the behaviour's own status; the rest are answered as the behaviour says.
 *
 * Every entry also has "overlapped": true once another request to the same
 * path was at the receiver (read, not yet answered) at the same time as
 * it.  It is complete in /_control/requests once the entry is answered;
 * the --log line, written on arrival, only knows whether another request
 * was already there.
 */
BEHAVIOUR_KEYS.add('flaky');
BEHAVIOUR_KEYS.add('flaky_status');

function checkFlaky(b) {
    if (b.flaky !== undefined &&
        !(typeof b.flaky === 'number' && b.flaky >= 0 && b.flaky <= 1))
        throw new Error('flaky must be a number in [0, 1]');
    if (b.flaky_status !== undefined &&
        !(Number.isInteger(b.flaky_status) && b.flaky_status >= 100 && b.flaky_status <= 999))
        throw new Error('flaky_status must be an integer 100..999');
}

/* The behaviour for one request: b, or b failing, at b.flaky's odds. */
function flakyBehaviour(b) {
    if (!b.flaky || Math.random() >= b.flaky) return b;
    return Object.assign({}, b, { status: b.flaky_status !== undefined ? b.flaky_status : 500 });
}

/* Requests read and not yet answered, per path. */
const unanswered = new Map();

function trackOverlap(entry, res) {
    let set = unanswered.get(entry.path);
    if (!set) {
        set = new Set();
        unanswered.set(entry.path, set);
    }
    entry.overlapped = set.size > 0;
    for (const other of set) other.overlapped = true;
    set.add(entry);
    res.on('close', () => set.delete(entry));
}

/* ------------------------------------------------------------------ */
/* Control API                                                         */
/* ------------------------------------------------------------------ */

function sendJson(res, status, obj) {
    const buf = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': buf.length });
    res.end(buf);
}

/* Reads a JSON request body; calls fn(obj) or answers 400. */
function readJson(req, res, fn) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        let obj;
        const text = Buffer.concat(chunks).toString('utf8');
        try {
            obj = text === '' ? {} : JSON.parse(text);
        } catch (e) {
            sendJson(res, 400, { error: `bad JSON: ${e.message}` });
            return;
        }
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
            sendJson(res, 400, { error: 'expected a JSON object' });
            return;
        }
        try {
            fn(obj);
        } catch (e) {
            sendJson(res, 400, { error: e.message });
        }
    });
}

function behavioursJson() {
    const out = {};
    for (const [k, v] of behaviours) {
        out[k === null ? '(default)' : k] = {
            queue: v.queue.map((q) => ({ behaviour: q.behaviour, left: q.left })),
            permanent: v.permanent,
        };
    }
    return out;
}

function handleControl(req, res, url) {
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
    case 'GET /_control/health':
        return sendJson(res, 200, { ok: true, port: server.address().port, pid: process.pid });

    case 'POST /_control/secret':
        return readJson(req, res, (o) => {
            if (o.clear) secrets = [];
            if (o.secret !== undefined) {
                if (o.replace) {
                    const saved = secrets;
                    secrets = [];
                    try { addSecret(o.secret); } catch (e) { secrets = saved; throw e; }
                } else {
                    addSecret(o.secret);
                }
            } else if (!o.clear) {
                throw new Error('expected {"secret": "whsec_..."} or {"clear": true}');
            }
            info(`secrets: ${secrets.length}`);
            sendJson(res, 200, { secrets: secrets.length });
        });

    case 'POST /_control/public_key':
        return readJson(req, res, (o) => {
            if (o.clear) publicKeys = [];
            if (o.public_key !== undefined) {
                if (o.replace) {
                    const saved = publicKeys;
                    publicKeys = [];
                    try { addPublicKey(o.public_key); } catch (e) { publicKeys = saved; throw e; }
                } else {
                    addPublicKey(o.public_key);
                }
            } else if (!o.clear) {
                throw new Error('expected {"public_key": "whpk_..."} or {"clear": true}');
            }
            info(`public keys: ${publicKeys.length}`);
            sendJson(res, 200, { public_keys: publicKeys.length });
        });

    case 'POST /_control/verify':
        return readJson(req, res, (o) => {
            if (!o.headers || typeof o.headers !== 'object' || typeof o.body !== 'string')
                throw new Error('expected {"headers": {...}, "body": "..."}');
            const v = verify(o.body, o.headers);
            sendJson(res, 200, { verified: v.verified, error: v.error,
                matched_secret: v.matched, matched_public_key: v.matched_public_key,
                matched_scheme: v.matched_scheme });
        });

    case 'POST /_control/behaviour':
    case 'POST /_control/behavior':
        return readJson(req, res, (o) => {
            const path = o.path === undefined ? null : o.path;
            if (path !== null && typeof path !== 'string')
                throw new Error('path must be a string or null');
            if (o.reset) {
                if (o.all) behaviours.clear();
                else behaviours.delete(path);
            }
            if (o.behaviour !== undefined) {
                const b = o.behaviour;
                checkBehaviour(b);
                const s = settingsFor(path, true);
                if (b.times !== undefined) s.queue.push({ behaviour: b, left: b.times });
                else s.permanent = b;
            } else if (!o.reset) {
                throw new Error('expected "behaviour" or "reset"');
            }
            sendJson(res, 200, { ok: true, behaviours: behavioursJson() });
        });

    case 'GET /_control/behaviour':
    case 'GET /_control/behavior':
        return sendJson(res, 200, behavioursJson());

    case 'GET /_control/requests': {
        const p = url.searchParams.get('path');
        const since = url.searchParams.has('since') ? Number(url.searchParams.get('since')) : null;
        let out = entries;
        if (since !== null && Number.isFinite(since)) {
            // seq increases along the array: binary-search the first seq > since.
            let lo = 0, hi = out.length;
            while (lo < hi) {
                const mid = (lo + hi) >> 1;
                if (out[mid].seq > since) hi = mid; else lo = mid + 1;
            }
            out = out.slice(lo);
        }
        if (p !== null) out = out.filter((e) => e.path === p);
        return sendJson(res, 200, out);
    }

    case 'GET /_control/stats':
        return sendJson(res, 200, statsJson());

    case 'POST /_control/reset':
        req.resume();
        return req.on('end', () => {
            entries = [];
            generation++;
            resetStats();
            sendJson(res, 200, { ok: true });
        });

    default:
        req.resume();
        return req.on('end', () => sendJson(res, 404, { error: `no such control call: ${route}` }));
    }
}

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

const server = http.createServer((req, res) => {
    // Split the request target by hand: new URL() would take "//x" for a host.
    const q = req.url.indexOf('?');
    const url = {
        pathname: q < 0 ? req.url : req.url.slice(0, q),
        searchParams: new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1)),
    };
    if (url.pathname.startsWith('/_control/')) handleControl(req, res, url);
    else handleWebhook(req, res, url);
});

server.keepAliveTimeout = opts.keepAliveMs;
// headersTimeout must exceed keepAliveTimeout or idle connections get cut.
server.headersTimeout = Math.max(60000, opts.keepAliveMs + 1000);
server.requestTimeout = 0;     // no limit on receiving a (slow) request

server.on('connection', (socket) => {
    socket.whConn = ++connSeq;
    stats.connections++;
    openSockets.add(socket);
    socket.on('close', () => openSockets.delete(socket));
});

server.on('error', (e) => {
    process.stderr.write(`receiver: ${e.message}\n`);
    process.exit(1);
});

function writeAtomically(path, text) {
    const tmp = `${path}.tmp${process.pid}`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path);
}

try {
    for (const s of opts.secrets) addSecret(s);
    for (const k of opts.publicKeys) addPublicKey(k);
} catch (e) {
    usage(`bad --secret: ${e.message}`);
}

server.listen(opts.port, opts.host, () => {
    const port = server.address().port;
    if (opts.portFile) writeAtomically(opts.portFile, `${port}\n`);
    if (opts.stateFile)
        writeAtomically(opts.stateFile, JSON.stringify({ port, pid: process.pid }) + '\n');
    process.stdout.write(JSON.stringify({ port }) + '\n');
    info(`listening on ${opts.host}:${port}, ${secrets.length} secret(s)`);
});

/* Clean exit: stop listening, cut every connection, flush the log. */
let stopping = false;
function shutdown(sig) {
    if (stopping) return;
    stopping = true;
    info(`${sig}: exiting`);
    for (const t of timers) { clearTimeout(t); clearInterval(t); }
    server.close();
    for (const s of openSockets) s.destroy();
    if (logFd !== null) {
        if (pendingLines.length > 0) fs.writeSync(logFd, pendingLines.join(''));
        try { fs.fsyncSync(logFd); } catch (e) { /* e.g. a pipe */ }
        fs.closeSync(logFd);
        logFd = null;
    }
    process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
