// Memory a listener holds for clients that send an 8,191-byte body in 1-byte chunks (48 KiB on
// the wire each) and then wait without the last chunk: the auth listener's worst case for a body
// within its limit. Run: `node --expose-gc --import tsx bench/chunked-memory.ts [auth|http] [clients]`.
// Prints the memory held per client (heap + buffers outside it, after a full GC), relative to
// the same process before the clients came.
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, connect, type Server, type Socket } from 'node:net';
import { DENY } from '../src/http/auth/answers.js';
import type { AuthBackend } from '../src/http/auth/backend.js';
import { createAuthServer } from '../src/http/auth/server.js';
import { createMetrics } from '../src/metrics.js';

const which = (process.argv[2] ?? 'auth') as 'auth' | 'http';
const clients = Number(process.argv[3] ?? 200);
const BODY_BYTES = 8191;

function held(): number {
  for (let i = 0; i < 4; i++) globalThis.gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

let server: Server;
if (which === 'auth') {
  const denyAll: AuthBackend = { user: () => DENY, vhost: () => DENY, resource: () => DENY, topic: () => DENY };
  server = createAuthServer(denyAll, createMetrics()).server as Server;
} else {
  // The bench's node:http yardstick (bench/baseline-server.ts): it reads the body as it comes.
  server = createHttpServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => res.end('allow'));
  });
}
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const port = (server.address() as AddressInfo).port;

const before = held();
const sockets: Socket[] = [];
const wire = Buffer.from(`POST /auth/user HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n${'1\r\nx\r\n'.repeat(BODY_BYTES)}`);
for (let i = 0; i < clients; i++) {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  // 1-byte chunks, written in pieces of 512 wire bytes so that the server reads many small pieces.
  for (let at = 0; at < wire.length; at += 512) socket.write(wire.subarray(at, at + 512));
  sockets.push(socket);
}
await new Promise((r) => setTimeout(r, 2000));
const after = held();
console.log(JSON.stringify({ listener: which, clients, wireBytesPerClient: wire.length, heldKiBPerClient: Math.round((after - before) / clients / 1024) }));
for (const s of sockets) s.destroy();
server.close();
process.exit(0);
