// HTTPS between RabbitMQ and the auth listener, on a real node of each line booted from the repo's
// deploy/broker-tls variant (auth_http paths on https://, the broker's client certificate in
// advanced.config): partners log in through the broker, which presents its certificate to the
// service; a caller without a certificate from the trusted CA is refused at the handshake.
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import amqp from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBroker } from './support/broker.js';
import { type BrokerStack, startBrokerStack } from './support/e2e.js';
import { seedKey } from './support/seed.js';
import { metricSum, TEST_PEPPER } from './support/service.js';

/** What the auth listener answers to GET /healthz over TLS with these options: the text, or the error that ended it. */
function healthz(port: number, options: ConnectionOptions): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    let text = '';
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
      socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    });
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (err) => resolve({ text, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    socket.on('close', () => resolve({ text }));
  });
}

await describeBroker('HTTPS between the broker and the auth listener, client certificate required', (version) => {
  let stack: BrokerStack;
  let port: number;
  let certs: string;
  const pem = (name: string) => readFileSync(join(certs, name));

  beforeAll(async () => {
    stack = await startBrokerStack({ version, authTls: true });
    certs = stack.authTlsDir!;
    expect(stack.service.authUrl).toMatch(/^https:\/\//);
    port = Number(new URL(stack.service.authUrl).port);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('a partner logs in through the broker, which asks the service over HTTPS with its certificate', async () => {
    // A legacy key (the "/" vhost from definitions.json): nothing to provision, so the login is
    // all that is asked of the broker.
    const { key, vhost } = await seedKey(stack.db.sql, Buffer.from(TEST_PEPPER), { orgId: stack.orgId, vhost: null });
    const u = new URL(stack.broker.amqpUrl);
    const conn = await amqp.connect(`amqp://acme:${encodeURIComponent(key)}@${u.host}/${encodeURIComponent(vhost)}`, { noDelay: true });
    try {
      const channel = await conn.createChannel();
      expect(channel).toBeDefined();
    } finally {
      await conn.close();
    }
    await expect(amqp.connect(`amqp://acme:${encodeURIComponent(`${key}x`)}@${u.host}/${encodeURIComponent(vhost)}`, { noDelay: true })).rejects.toThrow(
      /ACCESS_REFUSED|403/,
    );
    // The answers came over TLS: the service counted them.
    expect(await metricSum(stack.service, 'voke_auth_decisions_total', { path: 'user', result: 'allow' })).toBeGreaterThanOrEqual(1);
    expect(await metricSum(stack.service, 'voke_auth_decisions_total', { path: 'vhost', result: 'allow' })).toBeGreaterThanOrEqual(1);
    expect(await metricSum(stack.service, 'voke_auth_decisions_total', { path: 'user', result: 'deny' })).toBeGreaterThanOrEqual(1);
  });

  it("the broker's certificate is answered; none, or one from another CA, is refused at the handshake", async () => {
    const trusted = await healthz(port, { ca: pem('ca.pem'), cert: pem('broker.pem'), key: pem('broker-key.pem') });
    expect(trusted.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);

    const before = await metricSum(stack.service, 'voke_auth_listener_tls_handshake_failures_total');
    const none = await healthz(port, { ca: pem('ca.pem') });
    const stranger = await healthz(port, { ca: pem('ca.pem'), cert: pem('stranger.pem'), key: pem('stranger-key.pem') });
    // With TLS 1.3 the client may finish its side before the server's alert: it sees an error
    // or a close, and never an answer.
    for (const refused of [none, stranger]) {
      expect(refused.text).toBe('');
      if (refused.error !== undefined) expect(refused.error).toMatch(/ERR_SSL|ECONNRESET|EPIPE|alert|certificate/i);
    }
    // Plain HTTP on the HTTPS port: no HTTP answer either.
    const plain = await new Promise<string>((resolve) => {
      let text = '';
      const socket = tcpConnect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n'));
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (text += d));
      socket.on('error', () => resolve(text));
      socket.on('close', () => resolve(text));
    });
    expect(plain).not.toMatch(/200 OK/);
    expect(await metricSum(stack.service, 'voke_auth_listener_tls_handshake_failures_total')).toBeGreaterThanOrEqual(before + 3);
  });
});
