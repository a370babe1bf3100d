#!/usr/bin/env node
/*
 * arrivals.js: the benchmark's arrival clock.
 *
 * A bare HTTP server on 127.0.0.1 that answers every request 204 as soon as
 * its body has arrived, and remembers, for each one, the `webhook-id` header,
 * the id of the row the event is about (the body's data.new.id, or data.old.id
 * for a delete; one line per element of a batch) and the arrival time in
 * milliseconds since the epoch with sub-millisecond precision: performance.now(), from an origin set on the wall clock (the
 * one PostgreSQL's clock_timestamp() reads) at the instant Date.now() ticks
 * to a new millisecond.  performance.timeOrigin alone can be a millisecond
 * or more off that clock, which is the size of what is measured here.  The
 * origin is set again at every reset, so it cannot drift far.  bench.sh points the
 * endpoint here for the latency phases; nginx ($msec) only has whole
 * milliseconds, and the test receiver (test/receiver) checks signatures and
 * keeps whole requests, which is more work per request than we want to time.
 *
 * Usage: node arrivals.js --port-file PATH
 *   Writes the port it listens on to PATH (atomically).
 *   GET /_arrivals?reset=1  answers "<webhook-id>\t<ms>\t<row-id>\n" for
 *                           every request since the last reset (row-id is
 *                           \N, COPY's NULL, when the body names none),
 *                           then forgets them (with reset=1) or not.  The
 *                           row id ties an arrival to its commit even when
 *                           the event's row has left the outbox.
 *   SIGTERM / SIGINT        exit.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const { performance } = require('perf_hooks');

let portFile = null;
for (let i = 2; i < process.argv.length; i++) {
	if (process.argv[i] === '--port-file')
		portFile = process.argv[++i];
}
if (!portFile) {
	console.error('usage: arrivals.js --port-file PATH');
	process.exit(2);
}

let arrivals = [];

/*
 * The wall clock in ms at performance.now() == 0: read at the edge of a
 * millisecond of Date.now() (a wait of at most 1 ms), so within
 * microseconds of it.
 */
function wallOrigin() {
	const t0 = Date.now();
	let t;
	let p;
	do {
		p = performance.now();
		t = Date.now();
	} while (t === t0);
	return t - p;
}
let origin = wallOrigin();

/* The row ids a webhook body is about: one per event (a batch is an array). */
function rowIds(body) {
	let v;
	try {
		v = JSON.parse(body.toString('utf8'));
	} catch (e) {
		return ['\\N'];
	}
	const events = Array.isArray(v) ? v : [v];
	return events.map((ev) => {
		const d = (ev && ev.data) || {};
		const r = d.new || d.old || {};
		return r.id === undefined || r.id === null ? '\\N' : String(r.id);
	});
}

const server = http.createServer((req, res) => {
	if (req.url.startsWith('/_arrivals')) {
		const out = arrivals.join('');
		if (req.url.includes('reset=1')) {
			arrivals = [];
			origin = wallOrigin();
		}
		res.writeHead(200, { 'content-type': 'text/plain' });
		res.end(out);
		return;
	}
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const t = origin + performance.now();
		res.writeHead(204);
		res.end();
		const wid = req.headers['webhook-id'] || '';
		for (const row of rowIds(Buffer.concat(chunks)))
			arrivals.push(`${wid}\t${t.toFixed(3)}\t${row}\n`);
	});
});

/* keep connections open as long as the worker wants them */
server.keepAliveTimeout = 600 * 1000;
server.headersTimeout = 601 * 1000;
server.requestTimeout = 0;

server.listen(0, '127.0.0.1', () => {
	fs.writeFileSync(portFile + '.tmp', `${server.address().port}\n`);
	fs.renameSync(portFile + '.tmp', portFile);
});

for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => process.exit(0));
