// Database unreachable while the service runs: cached keys keep working, unknown keys are
// denied (and not remembered as unknown), nothing 5xx on the auth listener, /readyz says 503,
// and it recovers without a restart.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, startTestService, TEST_PEPPER } from './support/service.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const pepper = Buffer.from(TEST_PEPPER);
let db: TestDatabase;
let proxy: TcpProxy;
let service: Awaited<ReturnType<typeof startTestService>>;

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await startTcpProxy(db.url);
  service = await startTestService(proxy.url);
});
afterAll(async () => {
  proxy.up();
  await service?.stop();
  await proxy?.close();
  await db?.drop();
});

it('keeps answering cached keys, denies unknown ones, and recovers by itself', async () => {
  const org = await seedOrg(db.sql, 'outage');
  const cached = await seedKey(db.sql, pepper, { orgId: org, scopes: ['vcp:connect', 'vcp:write:mode'] });
  const uncached = await seedKey(db.sql, pepper, { orgId: org });
  // Let the NOTIFYs of these inserts land first: a late one would evict the entry we fill below.
  await expect.poll(() => service.changesApplied()).toBeGreaterThanOrEqual(3);
  const login = (key: string) => askAuth(service.authUrl, 'user', { username: 'outage', password: key });
  const publish = () =>
    askAuth(service.authUrl, 'topic', {
      username: 'outage', vhost: cached.vhost, resource: 'topic', name: 'vcp', permission: 'write',
      routing_key: 'outage.command.mode', tags: `vcp-key-${cached.id}`,
    });

  const readiness = async () => {
    const res = await fetch(`${service.adminUrl}/readyz`);
    return { status: res.status, body: await res.json() };
  };
  expect((await login(cached.key)).body).toBe(`allow vcp-key-${cached.id}`);
  expect((await publish()).body).toBe('allow');
  expect(await readiness()).toEqual({ status: 200, body: { status: 'ready', database: true, listen: true } });

  proxy.down();
  await expect.poll(() => service.changes.listening(), { timeout: 5000 }).toBe(false);

  for (let i = 0; i < 3; i++) {
    const [l, p, u] = await Promise.all([login(cached.key), publish(), login(uncached.key)]);
    expect([l.status, p.status, u.status]).toEqual([200, 200, 200]);
    expect(l.body).toBe(`allow vcp-key-${cached.id}`);
    expect(p.body).toBe('allow');
    expect(u.body).toBe('deny'); // cannot be checked: denied, not cached as unknown
  }
  expect(await readiness()).toEqual({ status: 503, body: { status: 'not ready', database: false, listen: false } });
  const dbErrors = await service.metrics.registry.getSingleMetric('voke_auth_db_errors_total')!.get();
  expect(dbErrors.values[0]!.value).toBeGreaterThan(0);

  proxy.up();
  await expect.poll(() => service.changes.listening(), { timeout: 10_000 }).toBe(true);
  await expect.poll(async () => (await login(uncached.key)).body, { timeout: 10_000 }).toBe(`allow vcp-key-${uncached.id}`);
  expect((await readiness()).status).toBe(200);

  // invalidation works again after the reconnect
  const seen = service.changesApplied();
  await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${cached.id}`;
  await expect.poll(() => service.changesApplied(), { timeout: 1000 }).toBeGreaterThan(seen);
  expect((await login(cached.key)).body).toBe('deny');
});
