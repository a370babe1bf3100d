#!/usr/bin/env node
/*
 * tlsproxy.js -- two small servers for the TLS and proxy tests of the
 * `webhook` extension (test/t/013_tls_proxy.pl).
 *
 *   node tlsproxy.js --dir DIR
 *
 * DIR holds ca.pem, server.pem and server.key (made by the test with
 * openssl).  Starts, on 127.0.0.1:
 *   - an HTTPS receiver that demands a client certificate signed by ca.pem
 *     (mutual TLS) and answers 204, recording the client certificate's CN;
 *   - a plain HTTP forward proxy: it takes "POST http://host:port/path"
 *     requests, records them, and forwards them to the target.
 * Prints one line {"tls": PORT, "proxy": PORT} on stdout, then appends one
 * JSON line per request to DIR/log: {"via": "tls"|"proxy", "url", "cn"}.
 * SIGTERM ends it.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');

const i = process.argv.indexOf('--dir');
if (i < 0) { process.stderr.write('usage: tlsproxy.js --dir DIR\n'); process.exit(2); }
const dir = process.argv[i + 1];
const log = (o) => fs.appendFileSync(path.join(dir, 'log'), JSON.stringify(o) + '\n');

const tls = https.createServer({
    key: fs.readFileSync(path.join(dir, 'server.key')),
    cert: fs.readFileSync(path.join(dir, 'server.pem')),
    ca: fs.readFileSync(path.join(dir, 'ca.pem')),
    requestCert: true,
    rejectUnauthorized: true,
}, (req, res) => {
    req.resume();
    req.on('end', () => {
        const cert = req.socket.getPeerCertificate();
        log({ via: 'tls', url: req.url, cn: cert && cert.subject ? cert.subject.CN : null });
        res.writeHead(204);
        res.end();
    });
});

const proxy = http.createServer((req, res) => {
    let target;
    try { target = new URL(req.url); } catch (e) { res.writeHead(400); res.end(); return; }
    log({ via: 'proxy', url: req.url, cn: null });
    const up = http.request({
        host: target.hostname, port: target.port, path: target.pathname + target.search,
        method: req.method, headers: req.headers,
    }, (ur) => { res.writeHead(ur.statusCode, ur.headers); ur.pipe(res); });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
});

let ready = 0;
const done = () => {
    if (++ready < 2) return;
    process.stdout.write(JSON.stringify({ tls: tls.address().port, proxy: proxy.address().port }) + '\n');
};
tls.listen(0, '127.0.0.1', done);
proxy.listen(0, '127.0.0.1', done);
process.on('SIGTERM', () => process.exit(0));
