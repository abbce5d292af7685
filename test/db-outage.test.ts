// Database unreachable while the service runs: every key in the table keeps its answers (also
// keys never used since start, and for as long as the outage lasts), expiry is still enforced,
// unknown keys are denied without waiting for the database, nothing 5xx on the auth listener,
// /readyz and the metrics say the table is stale, and it recovers without a restart.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, metricSum, startTestService, TEST_PEPPER } from './support/service.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const pepper = Buffer.from(TEST_PEPPER);
let db: TestDatabase;
let proxy: TcpProxy;
let service: Awaited<ReturnType<typeof startTestService>>;
/** The service's clock runs this far ahead of the real one (the test moves it, never waits for it). */
let clockShift = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await startTcpProxy(db.url);
  service = await startTestService(proxy.url, { now: () => Date.now() + clockShift });
});
afterAll(async () => {
  proxy.up();
  await service?.stop();
  await proxy?.close();
  await db?.drop();
});

const metric = (name: string, labels: Record<string, string> = {}) => metricSum(service, name, labels);

it('answers every key in the table through an outage of any length, enforces expiry, and recovers by itself', async () => {
  const org = await seedOrg(db.sql, 'outage');
  const used = await seedKey(db.sql, pepper, { orgId: org, scopes: ['vcp:connect', 'vcp:write:mode'] });
  const neverUsed = await Promise.all([1, 2, 3].map(() => seedKey(db.sql, pepper, { orgId: org, scopes: ['vcp:connect', 'vcp:write:mode'] })));
  const revoked = await seedKey(db.sql, pepper, { orgId: org, isActive: false });
  const expiring = await seedKey(db.sql, pepper, { orgId: org, expiresAt: new Date(Date.now() + 3_600_000) });
  // every insert's NOTIFY applied: all active keys are in the table
  for (const k of [used, ...neverUsed, expiring]) await expect.poll(() => service.table.byId(k.id)).toBeDefined();

  const login = (key: string) => askAuth(service.authUrl, 'user', { username: 'outage', password: key });
  const publish = (k: { id: string; vhost: string }) =>
    askAuth(service.authUrl, 'topic', {
      username: 'outage',
      vhost: k.vhost,
      resource: 'topic',
      name: 'vcp',
      permission: 'write',
      routing_key: 'outage.command.mode',
      tags: `vcp-key-${k.id}`,
    });
  const readiness = async () => {
    const res = await fetch(`${service.adminUrl}/readyz`);
    return { status: res.status, body: await res.json() };
  };
  expect((await login(used.key)).body).toBe(`allow vcp-key-${used.id}`);
  expect((await publish(used)).body).toBe('allow');
  expect(await readiness()).toMatchObject({
    status: 200,
    body: { status: 'ready', database: true, listen: true, keyTable: { stale: false, staleSince: null } },
  });
  expect((await readiness()).body.keyTable.keys).toBeGreaterThanOrEqual(5);
  expect(await metric('voke_auth_key_table_stale')).toBe(0);

  const cutAt = Date.now();
  proxy.down();
  await expect.poll(() => service.changes.listening(), { timeout: 5000 }).toBe(false);
  expect(await metric('voke_auth_key_table_stale')).toBe(1);
  const staleSince = (await metric('voke_auth_key_table_stale_since_seconds')) * 1000;
  expect(staleSince).toBeGreaterThanOrEqual(cutAt);
  expect(staleSince).toBeLessThanOrEqual(Date.now());

  // An outage far longer than any cache TTL: the table has none.
  clockShift = 3 * 3_600_000 - 60_000; // nearly three hours on; `expiring` ran out two hours ago
  const unknown = generateApiKey();
  for (let i = 0; i < 3; i++) {
    const answers = await Promise.all([
      login(used.key),
      publish(used),
      ...neverUsed.flatMap((k) => [login(k.key), publish(k)]),
      login(revoked.key),
      login(expiring.key),
      login(unknown),
    ]);
    expect(answers.map((a) => a.status).every((s) => s === 200)).toBe(true);
    expect(answers.map((a) => a.body)).toEqual([
      `allow vcp-key-${used.id}`,
      'allow',
      ...neverUsed.flatMap((k) => [`allow vcp-key-${k.id}`, 'allow']),
      'deny', // revoked before the outage: never in the table
      'deny', // expired during the outage: expires_at is enforced from the table
      'deny', // cannot be checked: denied
    ]);
  }
  // Once a reconnect attempt has failed, unknown keys are denied without asking the database.
  await expect
    .poll(async () => {
      const before = await metric('voke_auth_db_lookups_total', { outcome: 'throttled' });
      expect((await login(generateApiKey())).body).toBe('deny');
      return (await metric('voke_auth_db_lookups_total', { outcome: 'throttled' })) - before;
    })
    .toBe(1);
  const down = await readiness();
  expect(down).toMatchObject({ status: 503, body: { status: 'not ready', database: false, listen: false, keyTable: { stale: true } } });
  // /readyz says since when the table may have missed changes: from the cut on, not before it.
  expect(Date.parse(down.body.keyTable.staleSince)).toBeGreaterThanOrEqual(cutAt - 1000);
  expect(await metric('voke_auth_db_errors_total')).toBeGreaterThan(0);

  const reloads = service.changes.reloads();
  proxy.up();
  await expect.poll(() => service.changes.listening(), { timeout: 10_000 }).toBe(true);
  expect(service.changes.reloads()).toBe(reloads + 1);
  expect(await metric('voke_auth_key_table_stale')).toBe(0);
  expect(await metric('voke_auth_key_table_stale_since_seconds')).toBe(0);
  expect(await readiness()).toMatchObject({ status: 200, body: { keyTable: { stale: false, staleSince: null } } });
  expect((await login(neverUsed[0]!.key)).body).toBe(`allow vcp-key-${neverUsed[0]!.id}`);

  // invalidation works again after the reconnect
  const seen = service.changesApplied();
  await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${used.id}`;
  await expect.poll(() => service.changesApplied()).toBeGreaterThan(seen);
  expect((await login(used.key)).body).toBe('deny');
  expect((await publish(used)).body).toBe('deny');
});
