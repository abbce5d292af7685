// The ceiling for the auth hot path: a bare node:net server that frames just enough HTTP/1.1 to
// answer (the head up to CRLF CRLF, a Content-Length body) and writes `200 text/plain allow`,
// with no validation, routing or lookup. Whatever the auth listener does beyond that is its cost.
// Same protocol with `npm run bench` as bench/baseline-server.ts: prints {"port": n}, answers a
// `cpu` line on stdin, exits on SIGTERM or when stdin closes.
import { type AddressInfo, createServer } from 'node:net';
import { serveParent } from './children.js';
import { answerAllow } from './net-baseline-handler.js';

const server = createServer({ noDelay: true }, (socket) => {
  socket.setEncoding('latin1');
  answerAllow(socket);
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

function stop(): void {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
serveParent(stop);
