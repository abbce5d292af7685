// Real REST gateways for the forward-auth tests and `npm run bench:rest`: nginx and Caddy from
// their Debian packages, each running the example configuration the repository ships
// (deploy/nginx/voke-auth-forward.conf, deploy/caddy/Caddyfile) with only its addresses changed,
// and a tiny upstream that echoes what reached it.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type GatewayName = 'nginx' | 'caddy';

export const SHIPPED: Record<GatewayName, string> = {
  nginx: new URL('../../deploy/nginx/voke-auth-forward.conf', import.meta.url).pathname,
  caddy: new URL('../../deploy/caddy/Caddyfile', import.meta.url).pathname,
};
/** The addresses the shipped files are written with. */
export const SHIPPED_ADDRESSES = { auth: '127.0.0.1:8080', upstream: '127.0.0.1:3000', port: 8000 };
/** The Debian package each gateway comes from (.ci/run installs them). */
export const PACKAGES: Record<GatewayName, string> = { nginx: 'nginx', caddy: 'caddy' };

/** The gateway's executable on PATH (or in /usr/sbin), or undefined. */
export function findGateway(name: GatewayName): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** E2E_REQUIRED=1 (or true/yes): a missing gateway fails the run instead of skipping. */
export function e2eRequired(): boolean {
  return ['1', 'true', 'yes'].includes((process.env.E2E_REQUIRED ?? '').toLowerCase());
}

/** A port free right now on 127.0.0.1 (another process could take it before it is used; rare). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface GatewayAddresses {
  /** voke-auth's auth listener (or a stand-in), host:port. */
  auth: string;
  /** The REST API, host:port. */
  upstream: string;
  /** The gateway's own port on 127.0.0.1. */
  port: number;
}

/** Replaces `from` by `to`, requiring exactly `count` occurrences (a changed shipped file must fail loudly here). */
function replaceExactly(text: string, from: string, to: string, count: number, file: string): string {
  const found = text.split(from).length - 1;
  if (found !== count) throw new Error(`${file}: expected ${count}× "${from}", found ${found}`);
  return text.split(from).join(to);
}

/** The shipped file with the test's addresses: nothing else changes. */
export function renderGatewayConfig(name: GatewayName, a: GatewayAddresses): string {
  const file = SHIPPED[name];
  let text = readFileSync(file, 'utf8');
  if (name === 'nginx') {
    text = replaceExactly(text, `server ${SHIPPED_ADDRESSES.auth};`, `server ${a.auth};`, 1, file);
    text = replaceExactly(text, `server ${SHIPPED_ADDRESSES.upstream};`, `server ${a.upstream};`, 1, file);
    text = replaceExactly(text, `listen 127.0.0.1:${SHIPPED_ADDRESSES.port};`, `listen 127.0.0.1:${a.port};`, 1, file);
  } else {
    text = replaceExactly(text, `forward_auth ${SHIPPED_ADDRESSES.auth} {`, `forward_auth ${a.auth} {`, 1, file);
    text = replaceExactly(text, `reverse_proxy ${SHIPPED_ADDRESSES.upstream}`, `reverse_proxy ${a.upstream}`, 3, file);
    text = replaceExactly(text, `\n:${SHIPPED_ADDRESSES.port} {`, `\n:${a.port} {`, 1, file);
  }
  return text;
}

export interface RunningGateway {
  name: GatewayName;
  url: string;
  /** What the gateway printed (error log for nginx), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

function waitForPort(port: number, child: ChildProcess, output: () => string, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null)
        return reject(new Error(`gateway exited (${child.exitCode ?? child.signalCode}):\n${output()}`));
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > until) reject(new Error(`gateway did not listen on ${port} within ${ms} ms:\n${output()}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    // nginx: SIGQUIT is its graceful stop; Caddy stops on SIGTERM. Both end their workers.
    child.kill(child.spawnfile.endsWith('nginx') ? 'SIGQUIT' : 'SIGTERM');
  });
}

/**
 * Starts the gateway in the foreground with the shipped configuration, rendered for `a`, in a
 * private directory (pid file, logs, temp files). `workers` is nginx's worker_processes;
 * `httpDirectives`, nginx directives added to its http block (the bench's).
 */
export async function startGateway(name: GatewayName, a: GatewayAddresses, o: { workers?: number; httpDirectives?: string[] } = {}): Promise<RunningGateway> {
  const binary = findGateway(name);
  if (binary === undefined) throw new Error(`${name} is not installed (Debian package ${PACKAGES[name]})`);
  const dir = mkdtempSync(join(tmpdir(), `voke-auth-${name}-`));
  // nginx's workers run as nobody when started as root: they must be able to use the directory.
  chmodSync(dir, 0o755);
  let child: ChildProcess;
  let logFile: string | undefined;
  let text = '';
  if (name === 'nginx') {
    writeFileSync(join(dir, 'site.conf'), renderGatewayConfig('nginx', a));
    for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t), { mode: 0o777 });
    logFile = join(dir, 'error.log');
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        `worker_processes ${o.workers ?? 1};`,
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${logFile} warn;`,
        'events { worker_connections 1024; }',
        'http {',
        '  access_log off;',
        ...(o.httpDirectives ?? []).map((d) => `  ${d}`),
        ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t === 'body' ? 'client_body' : t}_temp_path ${join(dir, t)};`),
        `  include ${join(dir, 'site.conf')};`,
        '}',
      ].join('\n'),
    );
    child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    writeFileSync(join(dir, 'Caddyfile'), renderGatewayConfig('caddy', a));
    child = spawn(binary, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    });
  }
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const output = () => {
    let log = '';
    try {
      if (logFile) log = readFileSync(logFile, 'utf8');
    } catch {
      // not written yet
    }
    return `${text}${log}`.slice(-4000);
  };
  try {
    await waitForPort(a.port, child, output);
  } catch (err) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    name,
    url: `http://127.0.0.1:${a.port}`,
    output,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What reached the upstream: method, path and headers (names lower-case). */
export interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A REST API stand-in on 127.0.0.1: answers 200 with JSON of the request it got, and keeps it. */
export async function startEchoUpstream(): Promise<{ address: string; received: Echoed[]; close(): Promise<void> }> {
  const received: Echoed[] = [];
  const server: Server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const seen = { method: req.method!, url: req.url!, headers: req.headers };
      received.push(seen);
      const body = JSON.stringify(seen);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
