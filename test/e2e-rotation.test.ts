// Rotation in place through a real broker, on every line the suites run: the backlog survives,
// both secrets log in during the overlap (on two instances of the service on one database), and
// at the overlap's end the connections opened with the previous secret are closed within 10 s
// while those opened with the new secret stay; the emergency rotation (overlap 0) refuses the
// previous secret at once and closes its connections, queues and backlog kept.
import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBrokerAdmin } from '../src/broker/management.js';
import { describeBroker, type StartedBroker } from './support/broker.js';
import { type BrokerStack, startBrokerStack } from './support/e2e.js';
import { seedKey } from './support/seed.js';
import { askAuth, startTestService, TEST_PEPPER } from './support/service.js';

/** The close-out's bound (10 s after the overlap) with room for a loaded 2-core machine. */
const CLOSE_BOUND_MS = 25_000;
const REFUSED = /ACCESS_REFUSED|403|NOT_ALLOWED|access to vhost .* refused|ConnectionClose/;

await describeBroker('Key rotation end to end', (version) => {
  let stack: BrokerStack;
  let broker: StartedBroker;
  let second: Awaited<ReturnType<typeof startTestService>>;
  let orgId: string;
  const open: ChannelModel[] = [];

  beforeAll(async () => {
    stack = await startBrokerStack({ version });
    ({ broker, orgId } = stack);
    // A second instance on the same database, with its own reconciler and key table.
    second = await startTestService(stack.db.url, {
      reconcileIntervalMs: 250,
      env: { RABBITMQ_MANAGEMENT_URL: broker.managementUrl, RABBITMQ_AMQP_URL: broker.amqpUrl },
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await second?.stop();
    await stack?.stop();
  }, 60_000);

  /**
   * A partner key with its provisioned vhost, as the mint leaves it. Stored and provisioned
   * directly rather than through the mint's self-test: this suite is about rotation, and the mint
   * (with its self-test) has its own suites on every line.
   */
  async function mint() {
    const k = await seedKey(stack.db.sql, Buffer.from(TEST_PEPPER), { orgId });
    await createBrokerAdmin({ managementUrl: broker.managementUrl, serviceUser: broker.serviceUser }).provisionKeyVhost({ vhost: k.vhost, slug: 'acme' });
    await expect.poll(() => stack.service.table.byId(k.id)).toBeDefined();
    return { key: k.key, id: k.id, vhost: k.vhost, prefix: k.key.slice(0, 9) };
  }

  async function connect(user: string, password: string, vhost: string, localAddress = '127.0.0.1') {
    const u = new URL(broker.amqpUrl);
    const url = `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${u.host}/${encodeURIComponent(vhost)}`;
    const socketOptions: Record<string, unknown> = { noDelay: true, localAddress };
    const c = await amqp.connect(url, socketOptions);
    c.on('error', () => {});
    open.push(c);
    return c;
  }

  async function admitted(key: string, vhost: string, localAddress?: string): Promise<boolean> {
    try {
      const c = await connect('acme', key, vhost, localAddress);
      await c.close();
      return true;
    } catch (e) {
      expect((e as Error).message).toMatch(REFUSED);
      return false;
    }
  }

  function watchClose(c: ChannelModel): { closedAt: () => number | undefined } {
    let at: number | undefined;
    c.once('close', () => (at = Date.now()));
    return { closedAt: () => at };
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("keeps the backlog, admits both secrets during the overlap on both instances, then closes only the previous secret's connections", async () => {
    const k = await mint();
    const before = await connect('acme', k.key, k.vhost); // opened before the rotation: previous secret
    const beforeWatch = watchClose(before);
    const svc = await (await connect(broker.serviceUser, broker.servicePassword, k.vhost)).createConfirmChannel();
    for (let i = 0; i < 5; i++) svc.publish('vcp', `acme.event.telemetry.site-${i}`, Buffer.from(String(i)));
    await svc.waitForConfirms();

    const overlapSeconds = 12;
    const r = await stack.admin('POST', `/api/v1/partner/api-keys/${k.id}/rotate`, { overlapSeconds }, orgId);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const next = r.json.key as string;
    expect(next).not.toBe(k.key);
    expect(r.json.apiKey).toMatchObject({ id: k.id, vhost: k.vhost, previousKeyPrefix: k.prefix });
    expect(r.json.connection.uri).toContain(encodeURIComponent(next));
    const end = Date.parse(r.json.previousKeyExpiresAt as string);

    // From here the broker asks the second instance: it learned the rotation by NOTIFY only.
    stack.relay.target(second.authUrl);
    await expect.poll(async () => (await askAuth(second.authUrl, 'user', { username: 'acme', password: next })).body).toMatch(/^allow vcp-key-/);
    expect((await askAuth(second.authUrl, 'user', { username: 'acme', password: k.key })).body).toBe(`allow vcp-key-${k.id}`);
    expect((await askAuth(second.authUrl, 'user', { username: 'acme', password: next })).body).toBe(`allow vcp-key-${k.id} vcp-gen-1`);

    await sleep(1500); // past the close-out's clock tolerance after the rotation
    const fresh = await connect('acme', next, k.vhost); // new secret, same address as `before`
    const freshWatch = watchClose(fresh);
    const during = await connect('acme', k.key, k.vhost, '127.0.0.2'); // previous secret during the overlap
    const duringWatch = watchClose(during);

    // Every message queued before the rotation, consumed with the new secret.
    const ch = await fresh.createChannel();
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await ch.get('vcp.acme.event.telemetry', { noAck: true });
      if (m) got.push(m.content.toString());
    }
    expect(got.sort()).toEqual(['0', '1', '2', '3', '4']);
    // The previous secret again from the new secret's address, once past the clock tolerance: each
    // of the two checks from 127.0.0.1 can only be its own connection's, so they are told apart.
    await sleep(1500);
    const sameAddress = watchClose(await connect('acme', k.key, k.vhost));
    expect(Date.now()).toBeLessThan(end); // the assertions above ran inside the overlap

    // The overlap ends: previous-secret connections closed within 10 s, the new one stays.
    const olds = [beforeWatch, duringWatch, sameAddress];
    await expect.poll(() => olds.every((w) => w.closedAt() !== undefined), { timeout: end - Date.now() + CLOSE_BOUND_MS, interval: 200 }).toBe(true);
    for (const w of olds) {
      expect(w.closedAt()! - end).toBeLessThan(CLOSE_BOUND_MS);
      expect(w.closedAt()!).toBeGreaterThanOrEqual(end - 500);
    }
    await sleep(3000); // more close-out passes run; the new-secret connection is left alone
    expect(freshWatch.closedAt()).toBeUndefined();
    await (await fresh.createChannel()).checkQueue('vcp.acme.event.telemetry');
    expect(await admitted(k.key, k.vhost)).toBe(false);
    expect(await admitted(next, k.vhost)).toBe(true);
    const detail = await stack.admin('GET', `/api/v1/partner/api-keys/${k.id}`, undefined, orgId);
    expect(detail.json).toMatchObject({ previousKeyPrefix: null, previousKeyExpiresAt: null });
    stack.relay.target(stack.service.authUrl);
  }, 120_000);

  it('overlapSeconds 0 (leaked key): the previous secret is refused at once and its connections closed; queues and backlog stay', async () => {
    const k = await mint();
    const old = await connect('acme', k.key, k.vhost);
    const oldWatch = watchClose(old);
    const svc = await (await connect(broker.serviceUser, broker.servicePassword, k.vhost)).createConfirmChannel();
    svc.publish('vcp', 'acme.event.alarm.raised', Buffer.from('kept'));
    await svc.waitForConfirms();
    const r = await stack.admin('POST', `/api/v1/partner/api-keys/${k.id}/rotate`, { overlapSeconds: 0 }, orgId);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const rotatedAt = Date.now();
    expect(await admitted(k.key, k.vhost)).toBe(false);
    await expect.poll(() => oldWatch.closedAt() !== undefined, { timeout: CLOSE_BOUND_MS, interval: 200 }).toBe(true);
    expect(oldWatch.closedAt()! - rotatedAt).toBeLessThan(CLOSE_BOUND_MS);
    await sleep(1500);
    const fresh = await connect('acme', r.json.key as string, k.vhost);
    const m = await (await fresh.createChannel()).get('vcp.acme.event.alarm', { noAck: true });
    expect(m === false ? undefined : m.content.toString()).toBe('kept');
  }, 90_000);
});
