#!/usr/bin/env node
// socket.io-client with its defaults, as a dashboard following the README uses it: the
// one option is `auth` as a callback sending the highest seq seen, so that every
// reconnect resumes. There is no reconnect code of its own: the library must do it.
// usage: node tests/plain_socketio_client.mjs URL [TRANSPORTS]
// stdout: one JSON line per event, {"event": name, "data": {"seq": n}};
// stderr: "connect <transport>" and "disconnect <reason>". Ends on SIGTERM.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../test_clients/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url, transports] = process.argv.slice(2);
let lastSeq;
const options = { auth: (cb) => cb(lastSeq === undefined ? {} : { lastSeq }) };
if (transports) options.transports = transports.split(',');
const socket = io(url, options);
socket.on('connect', () => process.stderr.write(`connect ${socket.io.engine.transport.name}\n`));
socket.on('disconnect', (reason) => process.stderr.write(`disconnect ${reason}\n`));
socket.onAny((event, data) => {
  const seq = typeof data?.seq === 'number' ? data.seq : null;
  if (seq !== null) lastSeq = Math.max(lastSeq ?? 0, seq);
  process.stdout.write(`${JSON.stringify({ event, data: { seq } })}\n`);
});
process.on('SIGTERM', () => {
  socket.close();
  process.exit(0);
});
