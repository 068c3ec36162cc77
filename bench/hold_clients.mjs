// Opens N socket.io-client websocket connections and keeps them until stdin closes.
// Prints "connected N" once all are up and "disconnected N" as the server lets them go;
// with "reconnect", the library's default reconnection is on and "reconnected N" is
// printed once every client is connected again.
// usage: node bench/hold_clients.mjs URL N [reconnect]
import { createRequire } from 'node:module';
const require = createRequire(new URL('../test_clients/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url, countArg, mode] = process.argv.slice(2);
const count = Number(countArg || 1000);
const reconnection = mode === 'reconnect';
let connected = 0;
let disconnected = 0;
const sockets = [];
for (let i = 0; i < count; i++) {
  const socket = io(url, { transports: ['websocket'], reconnection, forceNew: true });
  socket.on('connect', () => {
    connected += 1;
    if (connected === count) console.log(`connected ${count}`);
    if (connected === 2 * count) console.log(`reconnected ${count}`);
  });
  socket.on('disconnect', () => {
    disconnected += 1;
    if (disconnected === count) console.log(`disconnected ${count}`);
  });
  // While the server restarts every attempt fails: expected, not worth a line each.
  if (!reconnection) socket.on('connect_error', (err) => console.error(`connect_error ${err.message}`));
  sockets.push(socket);
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
