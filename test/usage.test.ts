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
  // Bursts of 500 logins on a busy test machine can take a lookup past the 80 ms answer deadline;
  // a call denied there cannot tell a revoked key from an unknown one, and this file counts reasons.
  a = await startTestService(db.url, { admin: false, usageFlushMs: 3_600_000, missAnswerDeadlineMs: 10_000 });
  b = await startTestService(db.url, { admin: false, usageFlushMs: 3_600_000, missAnswerDeadlineMs: 10_000 });
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
    const loginAfter = Date.now();
    expect((await login(a.authUrl, k.key)).body).toMatch(/^allow /);
    const read = async () => (await db.sql<{ lastUsedAt: Date | null }[]>`SELECT last_used_at FROM api_keys WHERE id = ${k.id}`)[0]!.lastUsedAt;
    expect(await read()).toBeNull();
    await a.usage.flush();
    const first = await read();
    expect(first).toBeInstanceOf(Date);
    // the time of the login, not of the flush or of the row's creation
    expect(first!.getTime()).toBeGreaterThanOrEqual(loginAfter);
    expect(first!.getTime()).toBeLessThanOrEqual(Date.now());

    const future = new Date(Date.now() + 3_600_000);
    await db.sql`UPDATE api_keys SET last_used_at = ${future} WHERE id = ${k.id}`;
    await login(a.authUrl, k.key);
    await a.usage.flush();
    expect((await read())!.getTime()).toBe(future.getTime());
  });

  it('does not evict busy keys from the table (bookkeeping columns do not notify)', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    const marker = await seedKey(db.sql, pepper, { orgId: org });
    await expect.poll(() => a.table.byId(marker.id)).toBeDefined(); // its NOTIFY (and k's before it) applied
    await login(a.authUrl, k.key);
    const seen = a.changesApplied();
    await a.usage.flush();
    // A change that does notify, after the flush: notifications arrive in commit order, so once
    // this one is applied, one the flush had sent would have been applied before it.
    await db.sql`UPDATE api_keys SET name = 'marker renamed' WHERE id = ${marker.id}`;
    await expect.poll(() => a.changesApplied()).toBeGreaterThan(seen);
    expect(a.changesApplied()).toBe(seen + 1);
  });
});

describe('partner.connected', () => {
  /** What the broker asks for a connection: the login, then the vhost with the client's address. */
  const connect = async (url: string, k: { id: string; key: string; vhost: string }, ip = '127.0.0.1') => {
    expect((await login(url, k.key)).body).toBe(`allow vcp-key-${k.id}`);
    return (await askAuth(url, 'vhost', { username: 'usage', vhost: k.vhost, ip, tags: `vcp-key-${k.id}` })).body;
  };

  it('is written once per key, across instances and repeated connections', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    for (let i = 0; i < 3; i++) {
      expect(await connect(a.authUrl, k)).toBe('allow');
      expect(await connect(b.authUrl, k)).toBe('allow');
    }
    await Promise.all([a.usage.flush(), b.usage.flush()]);
    await connect(a.authUrl, k);
    await a.usage.flush();
    const rows = await db.sql`SELECT organization_id, details FROM audit_events WHERE type = 'partner.connected' AND api_key_id = ${k.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.organizationId).toBe(org);
    expect(rows[0]!.details).toEqual({ vhost: k.vhost });
  });

  it('is not written for a login whose connection the vhost check refuses (blocked address)', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org, allowedIps: ['10.0.0.0/8'] });
    expect(await connect(a.authUrl, k, '192.0.2.7')).toBe('deny');
    await a.usage.flush();
    const events = await db.sql<{ type: string; details: { reason?: string } }[]>`
      SELECT type, details FROM audit_events WHERE api_key_id = ${k.id} ORDER BY created_at`;
    expect(events.map((e) => [e.type, e.details.reason])).toEqual([['partner.connection_refused', 'ip_not_allowed']]);
    expect((await db.sql`SELECT connected_at FROM api_keys WHERE id = ${k.id}`)[0]!.connectedAt).toBeNull();
    // the same key from an allowed address is its first connection
    expect(await connect(a.authUrl, k, '10.1.2.3')).toBe('allow');
    await a.usage.flush();
    expect(await db.sql`SELECT 1 FROM audit_events WHERE type = 'partner.connected' AND api_key_id = ${k.id}`).toHaveLength(1);
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
    const rows = await db.sql<{ organizationId: string | null; apiKeyId: string | null; details: { reason: string; count: number } }[]>`
      SELECT organization_id, api_key_id, details FROM audit_events
      WHERE type = 'partner.connection_refused' AND details->>'reason' <> 'ip_not_allowed'`; // not the blocked-address test's
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThanOrEqual(24);
    expect(rows.reduce((n, r) => n + Number(r.details.count), 0)).toBe(attempts);
    const byReason = (reason: string) => rows.filter((r) => r.details.reason === reason).reduce((n, r) => n + Number(r.details.count), 0);
    expect(byReason('inactive')).toBe(attempts / 4);
    expect(byReason('malformed_key')).toBe(attempts / 4);
    expect(byReason('unknown_key')).toBe(attempts / 2);
    // the revoked key's refusals are attributed to its org and key
    expect(rows.filter((r) => r.details.reason === 'inactive').every((r) => r.organizationId === org && r.apiKeyId === revoked.id)).toBe(true);
    // nothing of what was presented is stored
    const dump = JSON.stringify(await db.sql`SELECT * FROM audit_events`);
    for (const k of [...unknown, revoked.key]) expect(dump).not.toContain(k);
    expect(dump).not.toContain('nobody-');
  }, 120_000);
});
