// The yardstick for the auth hot path: a bare node:http server that reads the request body fully
// and answers `200 text/plain allow` with a content-length, keeping connections alive for 65 s as
// ours does (src/http/auth/server.ts, which reads HTTP from node:net itself; node:http adds its
// `date`, `connection` and `keep-alive` headers here). `npm run bench` starts it as a child process; it prints
// {"port": n} as one JSON line on stdout, answers a `cpu` line on stdin with its CPU time, and
// exits on SIGTERM or when stdin closes.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveParent } from './children.js';

const ALLOW = 'allow';
const LENGTH = Buffer.byteLength(ALLOW);
/** BENCH_IDENTITY_HEADERS (`name: value` lines, each ending in CRLF): answered with every 200 (bench:rest's auth stub). */
const EXTRA: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_IDENTITY_HEADERS ?? '')
    .split('\r\n')
    .filter((line) => line !== '')
    .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
);

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  let _bytes = 0;
  req.on('data', (chunk: Buffer) => {
    _bytes += chunk.length;
  });
  req.on('end', () => {
    res.writeHead(200, { ...EXTRA, 'content-type': 'text/plain', 'content-length': LENGTH });
    res.end(ALLOW);
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

function stop(): void {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
serveParent(stop);
