// What the hot path records is written in batches: last use, first connect, refused logins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, startTestService, TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
let db: TestDatabase;
let a: Awaited<ReturnType<typeof startTestService>>;
let b: Awaited<ReturnType<typeof startTestService>>;
let org: string;

beforeAll(async () => {
  db = await createTestDatabase();
  org = await seedOrg(db.sql, 'usage');
  // Long flush interval: the test decides when batches are written.
  a = await startTestService(db.url, { admin: false, usageFlushMs: 3_600_000 });
  b = await startTestService(db.url, { admin: false, usageFlushMs: 3_600_000 });
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

const login = (url: string, key: string, username = 'usage') => askAuth(url, 'user', { username, password: key });

describe('last_used_at', () => {
  it('is not written on the hot path, then written by the batch, and only moves forward', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    expect((await login(a.authUrl, k.key)).body).toMatch(/^allow /);
    const read = async () => (await db.sql<{ last_used_at: Date | null }[]>`SELECT last_used_at FROM api_keys WHERE id = ${k.id}`)[0]!.last_used_at;
    expect(await read()).toBeNull();
    await a.usage.flush();
    const first = await read();
    expect(first).toBeInstanceOf(Date);
    expect(Math.abs(first!.getTime() - Date.now())).toBeLessThan(5_000);

    const future = new Date(Date.now() + 3_600_000);
    await db.sql`UPDATE api_keys SET last_used_at = ${future} WHERE id = ${k.id}`;
    await login(a.authUrl, k.key);
    await a.usage.flush();
    expect((await read())!.getTime()).toBe(future.getTime());
  });

  it('does not evict busy keys from the cache (bookkeeping columns do not notify)', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    await login(a.authUrl, k.key);
    const seen = a.changesApplied();
    await a.usage.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(a.changesApplied()).toBe(seen);
  });
});

describe('partner.connected', () => {
  it('is written once per key, across instances and repeated logins', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    for (let i = 0; i < 3; i++) {
      await login(a.authUrl, k.key);
      await login(b.authUrl, k.key);
    }
    await Promise.all([a.usage.flush(), b.usage.flush()]);
    await login(a.authUrl, k.key);
    await a.usage.flush();
    const rows = await db.sql`SELECT organization_id, details FROM audit_events WHERE type = 'partner.connected' AND api_key_id = ${k.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.organization_id).toBe(org);
    expect(rows[0]!.details).toEqual({ vhost: k.vhost });
  });
});

describe('partner.connection_refused', () => {
  it('aggregates 10,000 failed logins into a bounded number of rows that add up', async () => {
    const revoked = await seedKey(db.sql, pepper, { orgId: org, isActive: false });
    const unknown = Array.from({ length: 50 }, () => generateApiKey());
    const attempts = 10_000;
    for (let i = 0; i < attempts; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => {
          const n = i + j;
          if (n % 4 === 0) return login(a.authUrl, revoked.key);
          if (n % 4 === 1) return login(b.authUrl, unknown[n % unknown.length]!);
          if (n % 4 === 2) return login(a.authUrl, 'x'.repeat(600)); // malformed
          return login(b.authUrl, unknown[n % unknown.length]!, `nobody-${n % 7}`); // no such org
        }).map((p) => p.then((r) => expect(r.body).toBe('deny'))),
      );
      if (i % 2500 === 0) await Promise.all([a.usage.flush(), b.usage.flush()]);
    }
    await Promise.all([a.usage.flush(), b.usage.flush()]);
    const rows = await db.sql<{ organization_id: string | null; api_key_id: string | null; details: { reason: string; count: number } }[]>`
      SELECT organization_id, api_key_id, details FROM audit_events WHERE type = 'partner.connection_refused'`;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThanOrEqual(24);
    expect(rows.reduce((n, r) => n + Number(r.details.count), 0)).toBe(attempts);
    const byReason = (reason: string) => rows.filter((r) => r.details.reason === reason).reduce((n, r) => n + Number(r.details.count), 0);
    expect(byReason('inactive')).toBe(attempts / 4);
    expect(byReason('malformed_key')).toBe(attempts / 4);
    expect(byReason('unknown_key')).toBe(attempts / 2);
    // the revoked key's refusals are attributed to its org and key
    expect(rows.filter((r) => r.details.reason === 'inactive').every((r) => r.organization_id === org && r.api_key_id === revoked.id)).toBe(true);
    // nothing of what was presented is stored
    const dump = JSON.stringify(await db.sql`SELECT * FROM audit_events`);
    for (const k of [...unknown, revoked.key]) expect(dump).not.toContain(k);
    expect(dump).not.toContain('nobody-');
  }, 120_000);
});
