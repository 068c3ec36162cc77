// Opens N socket.io-client websocket connections in one event format and records, for
// every models:updated seq, how many clients got it, when the last one did (epoch ms)
// and how many payload bytes one client received for it (with its proxy:status).
// Prints "ready N" once all are connected and have their greeting (at 10,000 models a
// greeting is ~5 MB per client); when stdin closes prints one JSON line
// {"seq": [count, lastMs, bytes], ...} and exits.
// usage: node bench/delta_clients.mjs URL N [delta|full]
import { createRequire } from 'node:module';
const require = createRequire(new URL('../test_clients/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url, countArg, format = 'delta'] = process.argv.slice(2);
const count = Number(countArg || 1000);
const now = () => performance.timeOrigin + performance.now();
const seen = {};
// Clients connect in waves of WAVE, each wave once the previous one has its greeting:
// at 10,000 models a greeting is ~5 MB, and a thousand of them parsed at once would
// exhaust the heap of one Node process.
const WAVE = 50;
let greeted = 0;
let opened = 0;

function openOne(i) {
  const socket = io(url, {
    transports: ['websocket'], reconnection: false, forceNew: true, auth: { format },
  });
  socket.once('proxy:status', () => {
    greeted += 1;
    if (greeted === count) console.log(`ready ${count}`);
    else if (greeted === opened) openWave();
  });
  // Only the first client measures bytes: stringifying on every client would be the
  // benchmark's own cost, not the server's.
  const measure = i === 0;
  socket.on('models:updated', (data) => {
    const at = now();
    const entry = (seen[data.seq] ||= [0, 0, 0]);
    entry[0] += 1;
    entry[1] = Math.max(entry[1], at);
    if (measure) entry[2] += JSON.stringify(data).length;
  });
  if (measure) {
    socket.on('proxy:status', (data) => {
      const entry = seen[data.seq - 1];
      if (entry) entry[2] += JSON.stringify(data).length;
    });
  }
  socket.on('connect_error', (err) => console.error(`connect_error ${err.message}`));
  socket.on('disconnect', (why) => console.error(`disconnected ${i}: ${why}`));
}

function openWave() {
  const end = Math.min(count, opened + WAVE);
  while (opened < end) openOne(opened++);
}
openWave();
process.stdin.on('end', () => {
  console.log(JSON.stringify(seen));
  process.exit(0);
});
process.stdin.resume();
