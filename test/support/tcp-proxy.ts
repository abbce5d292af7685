// A TCP relay between the service and a real dependency (PostgreSQL, the broker's management
// API), so a test can make it unreachable (existing connections cut, new ones refused) and bring
// it back, without a fake. Optionally it shows a test what each side sends (pg-counting-proxy,
// the AMQP close texts of e2e-deny-reasons).
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  url: string;
  /** Cut every connection and refuse new ones. */
  down(): void;
  /**
   * Go silent: nothing more is relayed either way and new connections are accepted but never
   * answered, with every socket left open (no RST, no FIN): a database host that vanished.
   */
  blackhole(): void;
  /** Relay again; after blackhole(), the held connections are cut first (their data is lost). */
  up(): void;
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  /** Called once per client connection; the function it returns sees every chunk that client sends. */
  watchClient?: () => (chunk: Buffer) => void;
  /** The same for what the target sends back to each client. */
  watchServer?: () => (chunk: Buffer) => void;
}

export async function startTcpProxy(targetUrl: string, opts: TcpProxyOptions = {}): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let accepting = true;
  let silent = false;
  const server: Server = createServer((client) => {
    if (!accepting) return client.destroy();
    if (silent) {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      client.on('error', () => {});
      return client.pause();
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    if (opts.watchClient) client.on('data', opts.watchClient());
    if (opts.watchServer) upstream.on('data', opts.watchServer());
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    down() {
      accepting = false;
      for (const s of sockets) s.destroy();
    },
    blackhole() {
      silent = true;
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    up() {
      if (silent) for (const s of sockets) s.destroy();
      silent = false;
      accepting = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
