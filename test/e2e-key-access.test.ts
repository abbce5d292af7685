// Key access on a real RabbitMQ node (every line) with the real service and PostgreSQL:
// REST-only keys, the probe window (test-connection and the mint self-test from this host,
// nobody else), the key detail's connection values, and an allowlist edit that closes the
// connections it no longer admits. A second loopback address (127.0.0.2, amqplib's
// localAddress) plays a partner on another host: the broker sees ip=127.0.0.2.
import { readFileSync } from 'node:fs';
import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeSourceAddresses } from '../src/broker/probe.js';
import { PROBE_WINDOW_MS, withProbeWindow } from '../src/keys/probe-window.js';
import { describeBroker, type StartedBroker } from './support/broker.js';
import type { TestDatabase } from './support/db.js';
import { type BrokerStack, startBrokerStack } from './support/e2e.js';

const KEYS = '/api/v1/partner/api-keys';
const ELSEWHERE = '127.0.0.2';

await describeBroker('REST-only keys, probe window, allowlist edits', (version) => {
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
  }, 120_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await stack?.stop();
  }, 60_000);

  const admin: BrokerStack['admin'] = (...args) => stack.admin(...args);

  async function mint(scopes: string[], extra: Record<string, unknown> = {}) {
    const r = await admin('POST', KEYS, { name: 'e2e', partnerId: 'e2e', scopes, ...extra }, orgId);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return { key: r.json.key as string, id: r.json.apiKey.id as string, vhost: r.json.apiKey.vhost as string | null, body: r.json };
  }

  async function connect(password: string, vhost: string, from?: string) {
    const u = new URL(broker.amqpUrl);
    const c = await amqp.connect(`amqp://acme:${encodeURIComponent(password)}@${u.host}/${encodeURIComponent(vhost)}`, {
      noDelay: true,
      ...(from ? { localAddress: from } : {}),
    });
    c.on('error', () => {});
    open.push(c);
    return c;
  }

  const refused = /access to vhost .* refused|NOT_ALLOWED|ConnectionClose|ACCESS_REFUSED|403/;

  async function brokerVhosts(): Promise<string[]> {
    const u = new URL(broker.managementUrl);
    const res = await fetch(`${u.protocol}//${u.host}/api/vhosts?columns=name`, {
      headers: { authorization: `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` },
    });
    return ((await res.json()) as { name: string }[]).map((v) => v.name);
  }

  it("a REST-only key (seeds' example scopes) mints 201 with a broker configured; no vhost on the broker; selfTest not_applicable", async () => {
    const k = await mint(['plants:read', 'telemetry:read']);
    expect(k.body.connection).toEqual({ selfTest: { status: 'not_applicable' } });
    expect(k.vhost).toBeNull();
    expect((await brokerVhosts()).filter((v) => v.includes(k.id))).toEqual([]);
    // And it cannot open AMQP anywhere (no connect scope): refused at login.
    await expect(connect(k.key, '/')).rejects.toThrow(/ACCESS_REFUSED|403/);
    // test-connection says why, without a probe.
    const t = await admin('POST', `${KEYS}/${k.id}/test-connection`, { key: k.key }, orgId);
    expect(t.json.ok).toBe(false);
    expect(t.json.error).toMatch(/vcp:connect/);
  });

  it('the detail URI, with the key where <API_KEY> stands, connects over AMQPS', async () => {
    const k = await mint(['vcp:connect']);
    const detail = await admin('GET', `${KEYS}/${k.id}`, undefined, orgId);
    expect(detail.status).toBe(200);
    expect(JSON.stringify(detail.json)).not.toContain(k.key);
    const uri = (detail.json.connection.uri as string).replace('<API_KEY>', encodeURIComponent(k.key));
    expect(uri).toBe(k.body.connection.uri);
    const c = await amqp.connect(uri, { noDelay: true, ca: [readFileSync(broker.caCertPath!)] });
    c.on('error', () => {});
    open.push(c);
    const ch = await c.createChannel();
    for (const q of Object.values(detail.json.connection.queues as Record<string, string>).filter((n) => n.includes('.event.'))) {
      expect((await ch.checkQueue(q)).queue).toBe(q);
    }
  });

  it('probe window: a key whose allowlist excludes this host passes the mint self-test and test-connection; the host is refused outside the window', async () => {
    const k = await mint(['vcp:connect'], { allowedIps: ['203.0.113.0/24'] });
    expect(k.body.connection.selfTest.status).toBe('passed');
    const t = await admin('POST', `${KEYS}/${k.id}/test-connection`, { key: k.key }, orgId);
    expect(t.json, JSON.stringify(t.json)).toMatchObject({ ok: true });
    // Outside the window this host is what it is: not in the allowlist.
    await expect(connect(k.key, k.vhost!)).rejects.toThrow(refused);
    const [row] = await db.sql<{ probeUntil: Date; probeIps: string[] }[]>`SELECT probe_until, probe_ips FROM api_keys WHERE id = ${k.id}`;
    expect(row!.probeUntil.getTime()).toBeLessThanOrEqual(Date.now());
    expect(row!.probeIps).toEqual([]);
  });

  it('probe window: during it, this host gets in; a partner from another loopback address, and another key, do not', async () => {
    const k = await mint(['vcp:connect'], { allowedIps: ['203.0.113.0/24'] });
    const neighbour = await mint(['vcp:connect'], { allowedIps: ['203.0.113.0/24'] });
    const ips = await probeSourceAddresses(broker.amqpUrl);
    expect(ips).toContain('127.0.0.1');
    expect(ips).not.toContain(ELSEWHERE);
    const evict = () => service.table.applyChange(`api_keys:UPDATE:${k.id}`);
    const seen = await withProbeWindow({ sql: db.sql, now: () => new Date(), onChange: evict }, k.id, ips, async (timeoutMs) => {
      expect(timeoutMs).toBeLessThanOrEqual(PROBE_WINDOW_MS);
      const outcome: string[] = [];
      // From elsewhere first: refused while the window is open: the window admits this host's addresses only.
      await connect(k.key, k.vhost!, ELSEWHERE).then(
        () => outcome.push('elsewhere: in'),
        () => outcome.push('elsewhere: refused'),
      );
      // Another key of the same org is not widened by this key's window.
      await connect(neighbour.key, neighbour.vhost!).then(
        () => outcome.push('neighbour: in'),
        () => outcome.push('neighbour: refused'),
      );
      // This host: admitted, so the window was open during both refusals above.
      const mine = await connect(k.key, k.vhost!);
      outcome.push('this host: in');
      await mine.close();
      return outcome;
    });
    expect(seen).toEqual(['elsewhere: refused', 'neighbour: refused', 'this host: in']);
    // After the window: this host is refused again.
    await expect(connect(k.key, k.vhost!)).rejects.toThrow(refused);
  });

  it('allowlist edit: narrowing the allowlist closes the connections it no longer admits; the others stay', async () => {
    const k = await mint(['vcp:connect'], { allowedIps: ['127.0.0.1/32', `${ELSEWHERE}/32`] });
    const here = await connect(k.key, k.vhost!);
    const there = await connect(k.key, k.vhost!, ELSEWHERE);
    let hereClosed = false;
    here.once('close', () => (hereClosed = true));
    const thereClosed = new Promise<number>((resolve) => there.once('close', () => resolve(Date.now())));

    const started = Date.now();
    const r = await admin('PATCH', `${KEYS}/${k.id}`, { allowedIps: ['127.0.0.1/32'] }, orgId);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.allowedIps).toEqual(['127.0.0.1/32']);
    const closedAfterMs = (await thereClosed) - started;
    console.log(`[RabbitMQ ${version}] connection outside the narrowed allowlist closed ${closedAfterMs} ms after the PATCH`);
    // Bounded by the test's timeout, not by a wall-clock assertion: the enforcer's pass schedule
    // (every second up to 8 s) is unit-tested in allowlist-enforcer.test.ts.

    // The admitted connection still works, and a new one from the dropped address is refused.
    const ch = await here.createChannel();
    expect((await ch.checkQueue('vcp.acme.event.telemetry')).queue).toBe('vcp.acme.event.telemetry');
    expect(hereClosed).toBe(false);
    await expect(connect(k.key, k.vhost!, ELSEWHERE)).rejects.toThrow(refused);
    const audit = await db.sql<{ details: any }[]>`SELECT details FROM audit_events WHERE api_key_id = ${k.id} AND type = 'api_key.updated'`;
    expect(audit.map((a) => a.details)).toEqual([{ changes: { allowedIps: { before: ['127.0.0.1/32', `${ELSEWHERE}/32`], after: ['127.0.0.1/32'] } } }]);
  }, 30_000);
});
