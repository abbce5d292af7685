// The database host vanishes without a word (no RST, no FIN: a network partition, a dead host):
// LISTEN does not notice, so the table is not known stale. Keys in the table keep their answers,
// a key not in it is denied at the answer deadline (80 ms) instead of waiting on the read (up to
// 2 s), and once the database is back the table resynchronises.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, metricSum, startTestService, TEST_PEPPER } from './support/service.js';
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
  proxy?.up();
  await service?.stop();
  await proxy?.close();
  await db?.drop();
});

const lateLookups = () => metricSum(service, 'voke_auth_db_lookups_total', { outcome: 'late' });

it('answers keys in the table, denies a key it must look up at the deadline, and resynchronises afterwards', async () => {
  const org = await seedOrg(db.sql, 'silent');
  const known = await seedKey(db.sql, pepper, { orgId: org, scopes: ['vcp:connect'] });
  await expect.poll(() => service.table.byId(known.id)).toBeDefined();
  const login = (key: string) => askAuth(service.authUrl, 'user', { username: 'silent', password: key });

  proxy.blackhole();
  // Minted while the service cannot hear: its NOTIFY never arrives, so a login must look it up.
  const minted = await seedKey(db.sql, pepper, { orgId: org, scopes: ['vcp:connect'] });
  expect((await login(known.key)).body).toBe(`allow vcp-key-${known.id}`);
  const late = await lateLookups();
  const asked = performance.now();
  const answer = await login(minted.key);
  const waitedMs = performance.now() - asked;
  expect(answer).toMatchObject({ status: 200, body: 'deny' });
  expect(await lateLookups()).toBe(late + 1); // denied at the answer deadline, not by a failed read
  // Far below the 2 s the read itself may take: the deadline (80 ms) plus an HTTP round trip.
  expect(waitedMs).toBeLessThan(1000);
  expect(service.changes.listening()).toBe(true); // nothing noticed the silence
  expect((await login(known.key)).body).toBe(`allow vcp-key-${known.id}`);

  proxy.up(); // the held connections are cut: LISTEN reconnects and reloads the table
  await expect.poll(() => service.table.byId(minted.id), { timeout: 10_000 }).toBeDefined();
  expect((await login(minted.key)).body).toBe(`allow vcp-key-${minted.id}`);
});
