// The auth listener's connection cap (AUTH_MAX_CONNECTIONS), its permanent 'error' listener,
// HTTPS configuration (AUTH_TLS_CERT, AUTH_TLS_KEY, AUTH_TLS_CA: one-line errors) and certificate
// reload on change, against a real service and PostgreSQL over real TCP/TLS connections.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { DENY } from '../src/http/auth/answers.js';
import type { AuthBackend } from '../src/http/auth/backend.js';
import { createAuthServer } from '../src/http/auth/server.js';
import { createMetrics } from '../src/metrics.js';
import { generateAuthTlsCerts } from './support/broker.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { memoryLogger, metricSum, startTestService } from './support/service.js';

let db: TestDatabase;
let certs: string;
beforeAll(async () => {
  db = await createTestDatabase();
  certs = mkdtempSync(join(tmpdir(), 'voke-auth-tls-test-'));
  generateAuthTlsCerts(certs);
});
afterAll(async () => {
  await db?.drop();
  rmSync(certs, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens a connection; resolves once connected, with what it receives and whether it closed. */
async function open(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received: () => text, closed: () => closed };
}

describe('AUTH_MAX_CONNECTIONS', () => {
  it('closes a connection beyond the cap at once, counts it, and serves again once one is gone', async () => {
    const service = await startTestService(db.url, { admin: false, env: { AUTH_MAX_CONNECTIONS: '2' } });
    try {
      const port = Number(new URL(service.authUrl).port);
      const held = [await open(port), await open(port)];
      await sleep(100);
      const third = await open(port);
      await sleep(300);
      expect(third.closed()).toBe(true);
      expect(third.received()).toBe('');
      expect(await metricSum(service, 'voke_auth_listener_connections_refused_total')).toBe(1);
      expect(await metricSum(service, 'voke_auth_listener_connections')).toBe(2);
      // The held ones are served.
      held[0]!.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      await sleep(200);
      expect(held[0]!.received()).toMatch(/^HTTP\/1\.1 200 OK/);
      // One gone: a new one is taken.
      held[1]!.socket.destroy();
      await sleep(200);
      const fourth = await open(port);
      fourth.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      await sleep(200);
      expect(fourth.received()).toMatch(/^HTTP\/1\.1 200 OK/);
      for (const c of [held[0]!, fourth]) c.socket.destroy();
    } finally {
      await service.stop();
    }
  });

  it('is a whole number from 1, with a one-line error otherwise', () => {
    expect(loadConfig({ AUTH_MAX_CONNECTIONS: '5' }).config.authMaxConnections).toBe(5);
    expect(loadConfig({}).config.authMaxConnections).toBe(1024);
    expect(() => loadConfig({ AUTH_MAX_CONNECTIONS: '0' })).toThrow(/^AUTH_MAX_CONNECTIONS must be a whole number from 1 to 1000000, got "0"$/);
  });
});

describe("the listening server's 'error' listener", () => {
  it('logs an error after listen() and keeps serving', async () => {
    const { log, lines } = memoryLogger();
    const denyAll: AuthBackend = { user: () => DENY, vhost: () => DENY, resource: () => DENY, topic: () => DENY };
    const auth = createAuthServer(denyAll, createMetrics(), { log });
    const server = auth.server as Server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      // What node:net emits when accept() fails (too many open files).
      server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
      server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
      expect(lines.filter((l) => l.includes('auth listener error; still listening'))).toHaveLength(1); // the second within 10 s is counted, not logged
      const c = await open((server.address() as AddressInfo).port);
      c.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      await sleep(200);
      expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK/);
      c.socket.destroy();
    } finally {
      await auth.close();
    }
  });
});

describe('AUTH_TLS_CERT, AUTH_TLS_KEY, AUTH_TLS_CA', () => {
  const f = (name: string) => join(certs, name);

  it.each([
    [
      'only the certificate',
      () => ({ AUTH_TLS_CERT: f('voke-auth.pem') }),
      /^AUTH_TLS_CERT is set without AUTH_TLS_KEY: set both \(HTTPS\) or neither \(HTTP\)$/,
    ],
    ['only the key', () => ({ AUTH_TLS_KEY: f('voke-auth-key.pem') }), /^AUTH_TLS_KEY is set without AUTH_TLS_CERT/],
    ['a CA alone', () => ({ AUTH_TLS_CA: f('ca.pem') }), /^AUTH_TLS_CA needs AUTH_TLS_CERT and AUTH_TLS_KEY/],
    [
      'an unreadable file',
      () => ({ AUTH_TLS_CERT: f('missing.pem'), AUTH_TLS_KEY: f('voke-auth-key.pem') }),
      /^AUTH_TLS_CERT: cannot read .*missing\.pem \(ENOENT\)$/,
    ],
    [
      'a key that is not PEM',
      () => ({ AUTH_TLS_CERT: f('voke-auth.pem'), AUTH_TLS_KEY: f('voke-auth.ext') }),
      /^AUTH_TLS_KEY: .*voke-auth\.ext is not a usable PEM private key/,
    ],
    [
      'a CA file that is not a certificate',
      () => ({ AUTH_TLS_CERT: f('voke-auth.pem'), AUTH_TLS_KEY: f('voke-auth-key.pem'), AUTH_TLS_CA: f('voke-auth.ext') }),
      /^AUTH_TLS_CA: .* is not a usable PEM certificate/,
    ],
    [
      'a key of another certificate',
      () => ({ AUTH_TLS_CERT: f('voke-auth.pem'), AUTH_TLS_KEY: f('broker-key.pem') }),
      /^AUTH_TLS_CERT and AUTH_TLS_KEY do not go together \(.*\)$/,
    ],
  ])('%s: refused with one line naming the variable', (_, env, message) => {
    let error: Error | undefined;
    try {
      loadConfig(env());
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('\n');
  });

  it('a keep-alive HTTPS connection costs one handshake for all its requests (counted in metrics)', async () => {
    const service = await startTestService(db.url, {
      admin: false,
      env: { AUTH_TLS_CERT: f('voke-auth.pem'), AUTH_TLS_KEY: f('voke-auth-key.pem'), AUTH_TLS_CA: f('ca.pem') },
    });
    try {
      const before = await metricSum(service, 'voke_auth_listener_tls_handshakes_total');
      const port = Number(new URL(service.authUrl).port);
      const REQUESTS = 200;
      const answers = await new Promise<number>((resolve, reject) => {
        let text = '';
        let sent = 0;
        const socket = tlsConnect(
          {
            host: '127.0.0.1',
            port,
            servername: 'localhost',
            ca: readFileSync(f('ca.pem')),
            cert: readFileSync(f('broker.pem')),
            key: readFileSync(f('broker-key.pem')),
          },
          () => {
            sent++;
            socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
          },
        );
        socket.setEncoding('latin1');
        // One request at a time, the next when the previous answer is in (as the broker's httpc does).
        socket.on('data', (d: string) => {
          text += d;
          const answered = text.split('\r\n\r\nok').length - 1;
          if (answered < sent) return;
          if (sent === REQUESTS) {
            socket.end();
            resolve(answered);
            return;
          }
          sent++;
          socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
        });
        socket.on('error', reject);
      });
      expect(answers).toBe(REQUESTS);
      expect((await metricSum(service, 'voke_auth_listener_tls_handshakes_total')) - before).toBe(1);
    } finally {
      await service.stop();
    }
  });

  it('certificate files replaced on disk are used for new connections, without a restart; a broken set keeps the old one', async () => {
    const live = mkdtempSync(join(tmpdir(), 'voke-auth-tls-live-'));
    const next = mkdtempSync(join(tmpdir(), 'voke-auth-tls-next-'));
    generateAuthTlsCerts(next); // another CA and certificates
    for (const name of ['voke-auth.pem', 'voke-auth-key.pem', 'ca.pem']) copyFileSync(f(name), join(live, name));
    const service = await startTestService(db.url, {
      admin: false,
      tlsReloadCheckMs: 100,
      env: { AUTH_TLS_CERT: join(live, 'voke-auth.pem'), AUTH_TLS_KEY: join(live, 'voke-auth-key.pem'), AUTH_TLS_CA: join(live, 'ca.pem') },
    });
    const port = Number(new URL(service.authUrl).port);
    /**
     * The fingerprint of the certificate the listener presents to a client holding the broker's
     * certificate from `dir`, or 'refused' when /healthz gets no answer over that connection.
     */
    const presented = (dir: string) =>
      new Promise<string>((resolve) => {
        const read = (n: string) => readFileSync(join(dir, n));
        let fingerprint = 'refused';
        let answered = false;
        const socket = tlsConnect(
          { host: '127.0.0.1', port, servername: 'localhost', ca: read('ca.pem'), cert: read('broker.pem'), key: read('broker-key.pem') },
          () => {
            fingerprint = socket.getPeerCertificate().fingerprint256;
            socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
          },
        );
        socket.on('data', () => (answered = true));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(answered ? fingerprint : 'refused'));
      });
    try {
      const first = await presented(certs);
      expect(first).toMatch(/^[0-9A-F:]{95}$/);
      // A broken set (a certificate renewed before its key arrives): the old one stays.
      copyFileSync(join(next, 'voke-auth.pem'), join(live, 'voke-auth.pem'));
      await sleep(400);
      const again = await presented(certs);
      expect(again).toBe(first);
      expect(service.logLines.some((l) => l.includes('certificate files changed but do not load'))).toBe(true);
      // The key arrives, and the new CA: the new set is used, and the new CA's clients are admitted.
      copyFileSync(join(next, 'voke-auth-key.pem'), join(live, 'voke-auth-key.pem'));
      copyFileSync(join(next, 'ca.pem'), join(live, 'ca.pem'));
      await sleep(400);
      const second = await presented(next);
      expect(second).not.toBe(first);
      expect(service.logLines.some((l) => l.includes('certificate files changed, loaded'))).toBe(true);
      // The old CA's client certificate is refused now.
      expect(await presented(certs)).toBe('refused');
    } finally {
      await service.stop();
      rmSync(live, { recursive: true, force: true });
      rmSync(next, { recursive: true, force: true });
    }
  });
});
