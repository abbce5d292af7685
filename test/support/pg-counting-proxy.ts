// A TCP relay in front of PostgreSQL that counts the statements clients send (protocol
// messages Query and Execute), so a test can say how many statements reached the database.
// It can also be cut (every connection closed, new ones refused) and restored.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CountingProxy {
  url: string;
  /** Statements sent through the proxy so far (simple queries + extended-protocol executes). */
  statements(): number;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** Reads the client's side of one connection: a startup packet (no type byte), then typed messages. */
function statementCounter(onStatement: () => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let startup = true;
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (startup) {
        if (pending.length < 8) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        const code = pending.readInt32BE(4);
        // An SSL/GSS request is followed by the real startup packet.
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
        pending = pending.subarray(length);
      } else {
        if (pending.length < 5) return;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) return;
        const type = String.fromCharCode(pending[0]!);
        if (type === 'Q' || type === 'E') onStatement();
        pending = pending.subarray(1 + length);
      }
    }
  };
}

export async function startCountingProxy(targetUrl: string): Promise<CountingProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let accepting = true;
  let statements = 0;
  const server: Server = createServer((client) => {
    if (!accepting) return client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    const count = statementCounter(() => statements++);
    client.on('data', (chunk: Buffer) => {
      count(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.toString(),
    statements: () => statements,
    down() {
      accepting = false;
      for (const s of sockets) s.destroy();
    },
    up() {
      accepting = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
