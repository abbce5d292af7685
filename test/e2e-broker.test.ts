// End to end with a real RabbitMQ node started from this repo's rabbitmq.conf, the real
// service (auth + admin listeners, PostgreSQL) and real AMQP clients (amqplib, noDelay).
import { readFileSync } from 'node:fs';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBroker, type StartedBroker } from './support/broker.js';
import type { TestDatabase } from './support/db.js';
import { type BrokerStack, startBrokerStack } from './support/e2e.js';
import { seedKey } from './support/seed.js';
import { startTestService, TEST_ADMIN_TOKEN, TEST_PEPPER } from './support/service.js';

const WRITE = ['vcp:write:setpoint', 'vcp:write:device-command', 'vcp:write:mode', 'vcp:write:schedule', 'vcp:write:config'];

await describeBroker('RabbitMQ end to end', (version) => {
  let stack: BrokerStack;
  let db: TestDatabase;
  let broker: StartedBroker;
  let service: BrokerStack['service'];
  let orgId: string;
  const open: ChannelModel[] = [];

  beforeAll(async () => {
    // Database, broker (AMQPS too), the service between them, the org "acme".
    stack = await startBrokerStack({ version, tls: true });
    ({ db, broker, service, orgId } = stack);
    await admin('POST', '/api/v1/admin/organizations', { slug: 'other-org', name: 'Other' });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await stack?.stop();
  }, 60_000);

  const admin: BrokerStack['admin'] = (...args) => stack.admin(...args);

  async function mint(scopes: string[], extra: Record<string, unknown> = {}) {
    const r = await admin('POST', '/api/v1/partner/api-keys', { name: 'e2e', partnerId: 'e2e', scopes, ...extra }, orgId);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.connection.selfTest.status).toBe('passed');
    return { key: r.json.key as string, id: r.json.apiKey.id as string, vhost: r.json.apiKey.vhost as string, uri: r.json.connection.uri as string };
  }

  function amqpUrl(user: string, password: string, vhost: string, base = broker.amqpUrl): string {
    const u = new URL(base);
    return `${u.protocol}//${encodeURIComponent(user)}:${encodeURIComponent(password)}@${u.host}/${encodeURIComponent(vhost)}`;
  }

  async function connect(user: string, password: string, vhost: string, options: Record<string, unknown> = {}, base?: string) {
    const c = await amqp.connect(amqpUrl(user, password, vhost, base), { noDelay: true, ...options });
    c.on('error', () => {});
    open.push(c);
    return c;
  }

  const asService = (vhost: string) => connect(broker.serviceUser, broker.servicePassword, vhost);

  /** Resolves when the broker closes the connection (the test's timeout bounds the wait). */
  function closed(c: ChannelModel): Promise<void> {
    return new Promise((resolve) => c.once('close', () => resolve()));
  }

  /** Publishes with a confirm; resolves 'ok' or the channel's close reason (403 on a topic deny). */
  async function publish(c: ChannelModel, routingKey: string): Promise<string> {
    const ch: ConfirmChannel = await c.createConfirmChannel();
    let reason = '';
    ch.on('error', (e: Error) => (reason = e.message));
    try {
      ch.publish('vcp', routingKey, Buffer.from(JSON.stringify({ routingKey })));
      await ch.waitForConfirms();
      await ch.close();
      return 'ok';
    } catch (e) {
      return reason || (e as Error).message;
    }
  }

  async function nextMessage(ch: Channel, queue: string, timeoutMs = 3000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = await ch.get(queue, { noAck: true });
      if (m) return m.fields.routingKey;
      await new Promise((r) => setTimeout(r, 25));
    }
    return undefined;
  }

  it('mints, connects with slug + key in partner-<id>, and consumes every event queue', async () => {
    const k = await mint(['vcp:connect'], { allowedIps: ['127.0.0.1/32'] });
    const partner = await connect('acme', k.key, k.vhost);
    const ch = await partner.createChannel();
    const received: string[] = [];
    for (const q of ['telemetry', 'alarm', 'status']) {
      await ch.consume(`vcp.acme.event.${q}`, (m) => m && received.push(`${q}:${m.fields.routingKey}`), { noAck: true });
    }
    const svc = await (await asService(k.vhost)).createChannel();
    for (const rk of ['acme.event.telemetry.realtime.site-1', 'acme.event.alarm.raised', 'acme.event.command.ack']) {
      svc.publish('vcp', rk, Buffer.from('{}'));
    }
    await expect
      .poll(() => received.sort(), { timeout: 5000 })
      .toEqual(['alarm:acme.event.alarm.raised', 'status:acme.event.command.ack', 'telemetry:acme.event.telemetry.realtime.site-1']);
    // The partner may not consume its command queue, nor declare anything.
    const ch2 = await partner.createChannel();
    ch2.on('error', () => {});
    await expect(ch2.consume('vcp.acme.command', () => {})).rejects.toThrow(/ACCESS_REFUSED|403/);
  });

  it('publishes only the routing families its scopes allow; everything else closes the channel with 403', async () => {
    const setpointOnly = await mint(['vcp:connect', 'vcp:write:setpoint']);
    const all = await mint(['vcp:connect', ...WRITE]);

    const svcA = await (await asService(setpointOnly.vhost)).createChannel();
    const c1 = await connect('acme', setpointOnly.key, setpointOnly.vhost);
    expect(await publish(c1, 'acme.command.site-setpoint')).toBe('ok');
    expect(await nextMessage(svcA, 'vcp.acme.command')).toBe('acme.command.site-setpoint');
    for (const rk of ['acme.command.device.dev-1', 'acme.command.mode', 'acme.schedule.create', 'acme.config.limits']) {
      expect(await publish(c1, rk), rk).toMatch(/ACCESS_REFUSED|403/);
    }

    const svcB = await (await asService(all.vhost)).createChannel();
    const c2 = await connect('acme', all.key, all.vhost);
    const routed: [string, string][] = [
      ['acme.command.site-setpoint', 'vcp.acme.command'],
      ['acme.command.device.dev-1', 'vcp.acme.command'],
      ['acme.command.mode', 'vcp.acme.command'],
      ['acme.schedule.create', 'vcp.acme.schedule'],
      ['acme.schedule.cancel', 'vcp.acme.schedule'],
      ['acme.config.limits', 'vcp.acme.config'],
    ];
    for (const [rk, queue] of routed) {
      expect(await publish(c2, rk), rk).toBe('ok');
      expect(await nextMessage(svcB, queue), rk).toBe(rk);
    }
    for (const rk of ['other-org.command.mode', 'acme.command.emergency', 'acme.event.telemetry.realtime.s1']) {
      expect(await publish(c2, rk), rk).toMatch(/ACCESS_REFUSED|403/);
    }
    // the connection survives channel-level denies
    expect(await publish(c2, 'acme.command.mode')).toBe('ok');
  });

  it('refuses logins with the key id as username, another org, a revoked or an expired key, and a foreign address', async () => {
    const k = await mint(['vcp:connect']);
    await expect(connect(k.id, k.key, k.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);
    await expect(connect('other-org', k.key, k.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);
    await expect(connect('acme', k.key.slice(0, -1) + (k.key.endsWith('a') ? 'b' : 'a'), k.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);

    const revoked = await mint(['vcp:connect']);
    expect((await admin('DELETE', `/api/v1/partner/api-keys/${revoked.id}`, undefined, orgId)).status).toBe(200);
    await expect(connect('acme', revoked.key, revoked.vhost)).rejects.toThrow(/ACCESS_REFUSED|403|vhost/);

    const expired = await seedKey(db.sql, Buffer.from(TEST_PEPPER), { orgId, expiresAt: new Date(Date.now() - 1000), vhost: k.vhost });
    await expect(connect('acme', expired.key, k.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);

    const fenced = await mint(['vcp:connect'], { allowedIps: ['203.0.113.0/24'] });
    await expect(connect('acme', fenced.key, fenced.vhost)).rejects.toThrow(/access to vhost .* refused|NOT_ALLOWED|ConnectionClose/);
  });

  it('a connected partner loses its connection on a revoke (API and SQL) and cannot reconnect', async () => {
    const viaApi = await mint(['vcp:connect']);
    const viaSql = await mint(['vcp:connect']);
    const c1 = await connect('acme', viaApi.key, viaApi.vhost);
    const c2 = await connect('acme', viaSql.key, viaSql.vhost);
    const gone1 = closed(c1);
    const gone2 = closed(c2);
    expect((await admin('DELETE', `/api/v1/partner/api-keys/${viaApi.id}`, undefined, orgId)).status).toBe(200);
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${viaSql.id}`;
    await Promise.all([gone1, gone2]);
    await expect(connect('acme', viaApi.key, viaApi.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);
    await expect(connect('acme', viaSql.key, viaSql.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);
  });

  it('a leaked key revoked by its plaintext (revoke-leaked) loses its live connection and cannot reconnect', async () => {
    const k = await mint(['vcp:connect']);
    const c = await connect('acme', k.key, k.vhost);
    const gone = closed(c);
    const r = await admin('POST', '/api/v1/admin/api-keys/revoke-leaked', { keys: [k.key] });
    expect(r.status).toBe(200);
    expect(r.json.revoked.map((x: { id: string }) => x.id)).toEqual([k.id]);
    await gone; // the reconciler deleted its vhost
    await expect(connect('acme', k.key, k.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);
  });

  it('a key that expires while connected loses its connection', async () => {
    // Minted far from expiry and connected first, then brought near it: however long the mint
    // and the connect take on a loaded machine, the key is valid while they run.
    const k = await mint(['vcp:connect'], { expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    const c = await connect('acme', k.key, k.vhost);
    const [row] = await db.sql<{ expiresAt: Date }[]>`
      UPDATE api_keys SET expires_at = now() + interval '2 seconds' WHERE id = ${k.id} RETURNING expires_at`;
    await closed(c);
    // closed because it expired, not before
    expect(Date.now()).toBeGreaterThanOrEqual(row!.expiresAt.getTime());
    await expect(connect('acme', k.key, k.vhost)).rejects.toThrow(/ACCESS_REFUSED|403/);
  }, 15_000);

  it('a mint while the broker is down or misconfigured fails with BROKER_SELF_TEST_FAILED and leaves nothing behind', async () => {
    const deadPort = 1; // nothing listens on a privileged port here; no free-port guess to race
    const mgmt = new URL(broker.managementUrl);
    const cases = {
      down: { RABBITMQ_MANAGEMENT_URL: `http://u:p@127.0.0.1:${deadPort}`, RABBITMQ_AMQP_URL: `amqp://127.0.0.1:${deadPort}` },
      'wrong management password': { RABBITMQ_MANAGEMENT_URL: `http://${mgmt.username}:wrong@${mgmt.host}`, RABBITMQ_AMQP_URL: broker.amqpUrl },
      // provisioning works, but the probe reaches a port where no broker listens
      'wrong AMQP URL': { RABBITMQ_MANAGEMENT_URL: broker.managementUrl, RABBITMQ_AMQP_URL: `amqp://127.0.0.1:${deadPort}` },
    };
    for (const [name, env] of Object.entries(cases)) {
      const broken = await startTestService(db.url, { env });
      try {
        const before = (await db.sql`SELECT count(*)::int AS n FROM api_keys`)[0]!.n;
        const res = await fetch(`${broken.adminUrl}/api/v1/partner/api-keys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-org-id': orgId },
          body: JSON.stringify({ name: 'broken', partnerId: 'x', scopes: ['vcp:connect', 'vcp:write:mode'] }),
        });
        const body = (await res.json()) as any;
        expect(res.status, name).toBe(500);
        expect(body.code, name).toBe('BROKER_SELF_TEST_FAILED');
        expect(JSON.stringify(body)).not.toMatch(/voke_[0-9A-Za-z]{46}|signingKey|[0-9a-f]{64}/);
        expect((await db.sql`SELECT count(*)::int AS n FROM api_keys`)[0]!.n, name).toBe(before);
      } finally {
        await broken.stop();
      }
    }
    const mgmtBase = new URL(broker.managementUrl);
    const vhosts = (await (await fetch(`http://${mgmtBase.host}/api/vhosts`, { headers: basicAuth() })).json()) as { name: string }[];
    const keys = new Set(
      (await db.sql<{ vhost: string }[]>`SELECT vhost FROM api_keys WHERE vhost IS NOT NULL AND deprovisioned_at IS NULL`).map((r) => r.vhost),
    );
    for (const v of vhosts.map((x) => x.name).filter((n) => n.startsWith('partner-'))) expect(keys.has(v), v).toBe(true);
  });

  function basicAuth(): Record<string, string> {
    const u = new URL(broker.managementUrl);
    return { authorization: `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` };
  }

  it('a legacy key (vhost "/", tag identity) works end to end with its own scopes only', async () => {
    // Ops create per-org queues in "/" (definitions.json has the exchange and policy).
    const ops = await (await connect(broker.adminUser, broker.adminPassword, '/')).createChannel();
    await ops.assertQueue('vcp.acme.event.telemetry', { durable: true });
    await ops.bindQueue('vcp.acme.event.telemetry', 'vcp', 'acme.event.telemetry.#');
    await ops.assertQueue('vcp.acme.command', { durable: true });
    await ops.bindQueue('vcp.acme.command', 'vcp', 'acme.command.#');
    await ops.purgeQueue('vcp.acme.command');

    const legacy = await seedKey(db.sql, Buffer.from(TEST_PEPPER), { orgId, vhost: null, scopes: ['trading:connect', 'vcp:write:mode'] });
    const c = await connect('acme', legacy.key, '/');
    const ch = await c.createChannel();
    ops.publish('vcp', 'acme.event.telemetry.meter.s1', Buffer.from('{}'));
    expect(await nextMessage(ch, 'vcp.acme.event.telemetry')).toBe('acme.event.telemetry.meter.s1');
    expect(await publish(c, 'acme.command.mode')).toBe('ok');
    expect(await nextMessage(ops, 'vcp.acme.command')).toBe('acme.command.mode');
    expect(await publish(c, 'acme.command.site-setpoint')).toMatch(/ACCESS_REFUSED|403/);
    // and it may not enter a per-key vhost
    const perKey = await mint(['vcp:connect']);
    await expect(connect('acme', legacy.key, perKey.vhost)).rejects.toThrow(/access to vhost .* refused|NOT_ALLOWED|ConnectionClose/);

    // Revoked: "/" cannot be deleted, so its connections are closed through the management API,
    // which lists a connection only after its first stats tick (~5 s): slower than per-key vhosts.
    const gone = closed(c);
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${legacy.id}`;
    await gone;
    await expect(connect('acme', legacy.key, '/')).rejects.toThrow(/ACCESS_REFUSED|403/);
  }, 30_000);

  it('connects over TLS (amqps) with the bundle URI, as partners do', async () => {
    const k = await mint(['vcp:connect']);
    expect(k.uri).toBe(`amqps://acme:${encodeURIComponent(k.key)}@localhost:${new URL(broker.amqpsUrl!).port}/partner-${k.id}`);
    const c = await amqp.connect(k.uri, { noDelay: true, ca: [readFileSync(broker.caCertPath!)], servername: 'localhost' });
    open.push(c);
    c.on('error', () => {});
    const ch = await c.createChannel();
    await ch.checkQueue('vcp.acme.event.telemetry');
    expect((await ch.consume('vcp.acme.event.alarm', () => {})).consumerTag).toBeTruthy();
  });

  it('records the first real connection once, not the self-test', async () => {
    const k = await mint(['vcp:connect']);
    await service.usage.flush();
    const count = async () => (await db.sql`SELECT count(*)::int AS n FROM audit_events WHERE type = 'partner.connected' AND api_key_id = ${k.id}`)[0]!.n;
    expect(await count()).toBe(0);
    await connect('acme', k.key, k.vhost);
    await connect('acme', k.key, k.vhost);
    await service.usage.flush();
    expect(await count()).toBe(1);
  });
});
