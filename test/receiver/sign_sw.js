#!/usr/bin/env node
/*
 * sign_sw.js -- signs a request with the standardwebhooks library, the
 * sender side of another implementation, for the receiving side's tests.
 *
 *   node test/receiver/sign_sw.js MSG_ID TIMESTAMP BODY SECRET...
 *
 * Prints {"headers": {...}, "body": BODY} as one JSON line: the headers a
 * sender using the library sends, with one signature per secret (several
 * secrets: a sender rotating its secret), space-separated in
 * webhook-signature as the specification says.
 */
'use strict';

const { Webhook } = require('standardwebhooks');

const [id, ts, body, ...secrets] = process.argv.slice(2);
if (!id || !ts || body === undefined || secrets.length === 0) {
    process.stderr.write('usage: node sign_sw.js MSG_ID TIMESTAMP BODY SECRET...\n');
    process.exit(2);
}
const when = new Date(Number(ts) * 1000);
const signature = secrets.map((s) => new Webhook(s).sign(id, when, body)).join(' ');
process.stdout.write(JSON.stringify({
    headers: {
        'Webhook-Id': id,
        'Webhook-Timestamp': ts,
        'Webhook-Signature': signature,
        'Content-Type': 'application/json',
    },
    body,
}) + '\n');
