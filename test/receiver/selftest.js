#!/usr/bin/env node
/*
 * selftest.js -- checks receiver.js: starts it on a free port, signs webhooks
 * itself with node's crypto, and checks verification, behaviours, the control
 * API, statistics and the --log file.
 *
 *   node test/receiver/selftest.js      (exit 0 when all checks pass)
 */
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

let passed = 0, failed = 0;
function ok(cond, name, extra) {
    if (cond) { passed++; console.log(`ok ${passed + failed} - ${name}`); }
    else {
        failed++;
        console.log(`not ok ${passed + failed} - ${name}`);
        if (extra !== undefined) console.log(`# ${JSON.stringify(extra)}`);
    }
}

/* Standard Webhooks signature, computed independently of the library. */
function sign(secret, id, ts, body) {
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    return 'v1,' + crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
}
const newSecret = () => 'whsec_' + crypto.randomBytes(24).toString('base64');

let port;
const ctlAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/* One HTTP request; resolves {status, headers, body} or rejects on error. */
function request({ method = 'POST', p = '/', headers = {}, body = '', agent = ctlAgent }) {
    return new Promise((resolve, reject) => {
        const buf = Buffer.from(body);
        const req = http.request({ host: '127.0.0.1', port, method, path: p, agent,
            headers: { ...headers, 'content-length': buf.length } }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                body: Buffer.concat(chunks) }));
            res.on('error', reject);
        });
        req.on('error', reject);
        req.end(buf);
    });
}
const ctl = async (method, p, obj) => {
    const r = await request({ method, p, body: obj === undefined ? '' : JSON.stringify(obj),
        headers: { 'content-type': 'application/json' } });
    return { status: r.status, json: JSON.parse(r.body.toString()) };
};

/* Posts a webhook signed with `secrets` (a list: one signature each). */
function webhook(p, secrets, opts = {}) {
    const id = opts.id || 'msg_' + crypto.randomBytes(8).toString('hex');
    const ts = opts.ts || Math.floor(Date.now() / 1000);
    const body = opts.body !== undefined ? opts.body : JSON.stringify({ hello: 'world', id });
    const sig = secrets.map((s) => sign(s, id, ts, body)).join(' ');
    return request({ p, body, agent: 'agent' in opts ? opts.agent : ctlAgent, headers: {
        'content-type': 'application/json', 'webhook-id': id,
        'webhook-timestamp': String(ts), 'webhook-signature': sig } });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
    // 1. The spec's test vector, computed with node's crypto.
    ok(sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        1614265330, '{"test": 2432232314}') === 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    'spec test vector HMAC');

    // Start the receiver.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'receiver-selftest-'));
    const logPath = path.join(dir, 'log.jsonl'), portFile = path.join(dir, 'port');
    const s1 = newSecret(), s2 = newSecret(), wrong = newSecret();
    const child = spawn(process.execPath, [path.join(__dirname, 'receiver.js'), '--port', '0',
        '--secret', s1, '--log', logPath, '--port-file', portFile, '--quiet'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
    const line = await new Promise((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
            out += d;
            if (out.includes('\n')) resolve(out.split('\n')[0]);
        });
        child.on('exit', () => reject(new Error('receiver exited early')));
    });
    port = JSON.parse(line).port;
    ok(Number.isInteger(port) && port > 0, `stdout port line ${line}`);
    ok(fs.readFileSync(portFile, 'utf8') === `${port}\n`, 'port file');

    try {
        // 2. Verification.
        let r = await webhook('/good', [s1]);
        ok(r.status === 204 && r.body.length === 0, 'default answer 204, empty body');
        r = await webhook('/bad', [wrong]);
        r = await webhook('/two', [wrong, s1]);
        r = await webhook('/old', [s1], { ts: Math.floor(Date.now() / 1000) - 3600 });
        r = await webhook('/text', [s1], { body: 'not json at all \u00e9' });
        let reqs = (await ctl('GET', '/_control/requests')).json;
        const byPath = (p) => reqs.filter((e) => e.path === p);
        ok(byPath('/good')[0].verified === true && byPath('/good')[0].verify_error === null,
            'correctly signed request verified', byPath('/good')[0]);
        ok(byPath('/bad')[0].verified === false &&
            /No matching signature/.test(byPath('/bad')[0].verify_error),
        'wrongly signed request unverified', byPath('/bad')[0]);
        ok(byPath('/two')[0].verified === true && byPath('/two')[0].headers['webhook-signature']
            .split(' ').length === 2, 'two signatures, second matches: verified');
        ok(byPath('/old')[0].verified === false && /too old/.test(byPath('/old')[0].verify_error),
            'old timestamp unverified');
        ok(byPath('/text')[0].verified === true && byPath('/text')[0].body === 'not json at all \u00e9',
            'non-JSON UTF-8 body verified and recorded as sent');
        const e0 = byPath('/good')[0];
        ok(e0.method === 'POST' && typeof e0.time_ms === 'number' && e0.seq >= 1 &&
            e0.answered === 204 && e0.headers['content-type'] === 'application/json',
        'entry fields', e0);

        // 3. A secret added at run time (rotation: either secret verifies).
        r = await webhook('/rot', [s2]);
        ok((await ctl('POST', '/_control/secret', { secret: s2 })).json.secrets === 2, 'add secret');
        ok((await ctl('POST', '/_control/secret', { secret: 'whsec_!!' })).status === 400,
            'bad secret refused');
        r = await webhook('/rot', [s2]);
        r = await webhook('/rot', [s1]);
        reqs = (await ctl('GET', '/_control/requests?path=/rot')).json;
        ok(reqs.length === 3 && !reqs[0].verified && reqs[1].verified && reqs[2].verified &&
            reqs[1].matched_secret === s2 && reqs[2].matched_secret === s1,
        'runtime secret, path filter', reqs.map((e) => [e.verified, e.matched_secret]));
        const since = reqs[1].seq;
        reqs = (await ctl('GET', `/_control/requests?since=${since}`)).json;
        ok(reqs.length === 1 && reqs[0].seq === since + 1, 'since filter');

        // 4. Behaviours: 500 + Retry-After twice, then the default again.
        await ctl('POST', '/_control/behaviour',
            { path: '/x', behaviour: { status: 500, retry_after: '7', times: 2 } });
        const st = [];
        for (let i = 0; i < 3; i++) {
            r = await webhook('/x', [s1]);
            st.push([r.status, r.headers['retry-after']]);
        }
        ok(JSON.stringify(st) === JSON.stringify([[500, '7'], [500, '7'], [204, undefined]]),
            'status+retry_after times:2 then 204', st);
        // Permanent behaviour on the default path, overridden by a path queue.
        await ctl('POST', '/_control/behaviour', { path: null, behaviour: { status: 202, body: 'hi' } });
        await ctl('POST', '/_control/behaviour', { path: '/y', behaviour: { status: 503, times: 1 } });
        const a = await webhook('/y', [s1]), b = await webhook('/y', [s1]);
        ok(a.status === 503 && b.status === 202 && b.body.toString() === 'hi',
            'default-path behaviour with body; queue first', [a.status, b.status]);
        await ctl('POST', '/_control/behaviour', { path: null, reset: true });
        ok((await webhook('/y', [s1])).status === 204, 'reset default behaviour');
        ok((await ctl('POST', '/_control/behaviour', { path: '/z', behaviour: { bogus: 1 } }))
            .status === 400, 'unknown behaviour key refused');

        // Delay.
        await ctl('POST', '/_control/behaviour', { path: '/slow', behaviour: { delay_ms: 300, times: 1 } });
        let t0 = Date.now();
        r = await webhook('/slow', [s1]);
        const dt = Date.now() - t0;
        ok(r.status === 204 && dt >= 290, `delay_ms 300 (took ${dt} ms)`);

        // Drop: the socket is destroyed without an answer.
        await ctl('POST', '/_control/behaviour', { path: '/drop', behaviour: { drop: true, times: 1 } });
        let err = null;
        try { await webhook('/drop', [s1], { agent: false }); } catch (e) { err = e; }
        ok(err && /hang up|ECONNRESET/.test(err.message), `drop (${err && err.message})`);
        reqs = (await ctl('GET', '/_control/requests?path=/drop')).json;
        ok(reqs.length === 1 && reqs[0].answered === 'drop', 'dropped request recorded');

        // Huge body.
        await ctl('POST', '/_control/behaviour', { path: '/huge', behaviour: { huge_mb: 3, times: 1 } });
        r = await webhook('/huge', [s1]);
        ok(r.status === 200 && r.body.length === 3 * 1024 * 1024, 'huge_mb 3');

        // Trickle: headers at once, then a byte per interval; the client gives up.
        await ctl('POST', '/_control/behaviour',
            { path: '/trickle', behaviour: { trickle: true, trickle_interval_ms: 50, times: 1 } });
        const got = await new Promise((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/trickle',
                agent: false }, (res) => {
                let n = 0;
                res.on('data', (c) => { n += c.length; });
                setTimeout(() => { req.destroy(); resolve({ status: res.statusCode, n }); }, 400);
            });
            req.on('error', (e) => { if (!req.destroyed) reject(e); });
            req.end('{}');
        });
        ok(got.status === 200 && got.n >= 3 && got.n <= 9, `trickle (${got.n} bytes in 400 ms)`);

        // 5. Stats and connection counting.
        await ctl('POST', '/_control/reset');
        let s = (await ctl('GET', '/_control/stats')).json;
        ok(s.count === 0 && s.connections === 0 && s.webhook_connections === 0,
            'reset zeroes stats', s);
        const ka = new http.Agent({ keepAlive: true, maxSockets: 1 });
        for (let i = 0; i < 5; i++) await webhook('/ka', [s1], { id: `msg_same${i % 2}`, agent: ka });
        for (let i = 0; i < 3; i++) await webhook('/nka', [wrong], { agent: false });
        s = (await ctl('GET', '/_control/stats')).json;
        ok(s.count === 8 && s.verified === 5 && s.unverified === 3 && s.distinct_ids === 5 &&
            s.by_path['/ka'].count === 5 && s.by_path['/nka'].unverified === 3,
        'stats counts', s);
        ok(s.connections === 4 && s.webhook_connections === 4,
            'connections: 1 keep-alive + 3 fresh', s);
        ka.destroy();
        reqs = (await ctl('GET', '/_control/requests?path=/ka')).json;
        ok(new Set(reqs.map((e) => e.conn)).size === 1, 'keep-alive requests share a conn');

        // 6. The log file holds one JSON line per recorded entry (before reset too).
        const lines = fs.readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        ok(lines.length === s.last_seq && lines[lines.length - 1].seq === s.last_seq &&
            lines.every((e, i) => e.seq === i + 1), `log file (${lines.length} lines)`);

        // 8. v1a: Ed25519 signatures under public keys, several in one header.
        const pair = () => {
            const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
            const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
            return { privateKey, pk: 'whpk_' + raw.toString('base64') };
        };
        const k1 = pair(), k2 = pair();
        const signA = (k, id, ts, body) =>
            'v1a,' + crypto.sign(null, Buffer.from(`${id}.${ts}.${body}`), k.privateKey).toString('base64');
        const post = (p, sigs, o = {}) => {
            const id = o.id || 'msg_' + crypto.randomBytes(8).toString('hex');
            const ts = o.ts || Math.floor(Date.now() / 1000);
            const body = o.body || JSON.stringify({ id });
            const headers = { 'webhook-id': id, 'webhook-timestamp': String(ts),
                'webhook-signature': sigs.map((f) => f(id, ts, body)).join(' ') };
            return { headers, body, send: () => request({ p, body, headers }) };
        };
        ok((await ctl('POST', '/_control/public_key', { public_key: 'whpk_AAAA' })).status === 400,
            'bad public key refused');
        ok((await ctl('POST', '/_control/public_key', { public_key: k1.pk })).json.public_keys === 1,
            'public key added');
        await ctl('POST', '/_control/reset');
        await post('/a', [(i, t, b) => signA(k1, i, t, b)]).send();
        await post('/a', [(i, t, b) => signA(k2, i, t, b)]).send();
        // an unknown version and a wrong v1a before the good one
        await post('/a', [() => 'v9,abc', (i, t, b) => signA(k2, i, t, b),
            (i, t, b) => signA(k1, i, t, b)]).send();
        await post('/a', [(i, t, b) => signA(k1, i, t, b)],
            { ts: Math.floor(Date.now() / 1000) - 600 }).send();
        reqs = (await ctl('GET', '/_control/requests?path=/a')).json;
        ok(reqs[0].verified && reqs[0].matched_public_key === k1.pk &&
            reqs[0].matched_scheme === 'v1a' && reqs[0].matched_secret === null,
        'v1a verified under its public key', reqs[0]);
        ok(!reqs[1].verified && /No matching signature/.test(reqs[1].verify_error),
            'v1a of another key refused', reqs[1]);
        ok(reqs[2].verified && reqs[2].matched_public_key === k1.pk,
            'one good signature among several verifies', reqs[2]);
        ok(!reqs[3].verified && /too old/.test(reqs[3].verify_error),
            'v1a stale timestamp refused', reqs[3]);
        // v1 and v1a side by side: a secret and a public key both known
        await ctl('POST', '/_control/secret', { secret: s1, replace: true });
        const both = post('/b', [(i, t, b) => sign(s1, i, t, b), (i, t, b) => signA(k1, i, t, b)]);
        let v = (await ctl('POST', '/_control/verify', { headers: both.headers, body: both.body })).json;
        ok(v.verified && v.matched_scheme === 'v1', 'v1 beside v1a: the secret verifies', v);
        await ctl('POST', '/_control/secret', { clear: true });
        v = (await ctl('POST', '/_control/verify', { headers: both.headers, body: both.body })).json;
        ok(v.verified && v.matched_scheme === 'v1a', 'v1 beside v1a: the public key verifies', v);
        v = (await ctl('POST', '/_control/verify', { headers: both.headers, body: both.body + ' ' })).json;
        ok(!v.verified, 'a changed body does not verify', v);
        ok((await ctl('GET', '/_control/stats')).json.count === 4, '/_control/verify records nothing');
        await ctl('POST', '/_control/public_key', { clear: true });
        await ctl('POST', '/_control/secret', { secret: s1 });

        // 7. Control calls are not recorded; unknown ones are 404.
        ok((await ctl('GET', '/_control/nope')).status === 404, 'unknown control call 404');
        ok((await ctl('GET', '/_control/stats')).json.count === 4, 'control calls not recorded');
    } catch (e) {
        ok(false, `exception: ${e.stack}`);
    }

    ctlAgent.destroy();
    child.kill('SIGTERM');
    const ex = await exited;
    ok(ex.code === 0, `clean exit on SIGTERM (${JSON.stringify(ex)})`);
    fs.rmSync(dir, { recursive: true, force: true });

    console.log(`1..${passed + failed}`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
