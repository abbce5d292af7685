// The strictest allow-everything auth stub for `npm run bench:rest`: a bare node:net server that
// answers `200` with no body to every request head it reads (nginx's auth subrequests carry no
// body: the shipped configuration drops it). No HTTP parsing beyond finding the end of each head.
// Speaks bench/children.ts's protocol (port line, `cpu` lines, stops with its parent).
import { type AddressInfo, createServer } from 'node:net';
import { serveParent } from './children.js';

// BENCH_IDENTITY_HEADERS: header lines (each ending in CRLF) answered with every 200: bench/rest.ts
// passes the X-Voke-* identity voke-auth answers for the bench key, so that nginx and the upstream
// do the same work behind either auth server.
const OK = `HTTP/1.1 200 OK\r\n${process.env.BENCH_IDENTITY_HEADERS ?? ''}content-length: 0\r\n\r\n`;

const server = createServer({ noDelay: true }, (socket) => {
  let tail = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    const text = tail + chunk;
    let answers = '';
    let at = 0;
    for (let end = text.indexOf('\r\n\r\n'); end !== -1; end = text.indexOf('\r\n\r\n', at)) {
      answers += OK;
      at = end + 4;
    }
    tail = text.slice(at);
    if (answers !== '') socket.write(answers, 'latin1');
  });
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
serveParent(() => server.close(() => process.exit(0)));
