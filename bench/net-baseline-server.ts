// The ceiling for the auth hot path: a bare node:net server that frames just enough HTTP/1.1 to
// answer (the head up to CRLF CRLF, a Content-Length body) and writes `200 text/plain allow`,
// with no validation, routing or lookup. Whatever the auth listener does beyond that is its cost.
// Same protocol with `npm run bench` as bench/baseline-server.ts: prints {"port": n}, answers a
// `cpu` line on stdin, exits on SIGTERM or when stdin closes.
import { type AddressInfo, createServer } from 'node:net';
import { createInterface } from 'node:readline';

const ANSWER = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nallow';

const server = createServer({ noDelay: true }, (socket) => {
  let buffered = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let out = '';
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) break;
      const m = /content-length: *(\d+)/i.exec(buffered.slice(0, end));
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (buffered.length < total) break;
      buffered = buffered.slice(total);
      out += ANSWER;
    }
    if (out !== '') socket.write(out, 'latin1');
  });
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

function stop(): void {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line === 'cpu') process.stdout.write(`${JSON.stringify({ cpu: process.cpuUsage() })}\n`);
  })
  .on('close', stop);
process.stdin.on('error', stop);
