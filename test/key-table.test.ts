// The whole key table on real PostgreSQL: a revoke made while LISTEN was cut is never served
// once it is back, unknown keys cost a bounded number of statements, and a key minted through
// another instance logs in at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyTable } from '../src/cache/key-table.js';
import { generateApiKey } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hash.js';
import { findActiveKeysOfOrganization, findKeyByHashes, findKeyById, loadActiveKeys, rewriteKeyHash } from '../src/store/auth-keys.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { type CountingProxy, startCountingProxy } from './support/pg-counting-proxy.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, startTestService, TEST_ADMIN_TOKEN, TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
let db: TestDatabase;
let org: string;

beforeAll(async () => {
  db = await createTestDatabase();
  org = await seedOrg(db.sql, 'tbl');
});
afterAll(async () => {
  await db?.drop();
});

const login = (url: string, key: string) => askAuth(url, 'user', { username: 'tbl', password: key }).then((r) => r.body);

describe('LISTEN reconnect', () => {
  let proxy: CountingProxy;
  let service: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    proxy = await startCountingProxy(db.url);
    // a small miss budget and no usage flushes: every statement the flood below causes is a lookup
    service = await startTestService(proxy.url, { admin: false, missLookupsPerSecond: 10, usageFlushMs: 3_600_000 });
  });
  afterAll(async () => {
    proxy.up();
    await service?.stop();
    await proxy?.close();
  });

  it('a revoke made while it was cut is denied after the resync, and never allowed once LISTEN is back', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    const other = await seedKey(db.sql, pepper, { orgId: org });
    await expect.poll(() => service.table.byId(other.id)).toBeDefined();
    expect(await login(service.authUrl, k.key)).toBe(`allow vcp-key-${k.id}`);

    proxy.down();
    await expect.poll(() => service.changes.listening()).toBe(false);
    // In the gap: a revoke and a new key, neither of which this instance can hear about.
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
    const added = await seedKey(db.sql, pepper, { orgId: org });
    const reloads = service.changes.reloads();
    proxy.up();

    // Ask continuously while it reconnects: every answer to a call made after LISTEN was seen
    // up again must be the resynchronised one.
    let afterResync = 0;
    while (afterResync < 20) {
      const upBefore = service.changes.listening();
      const answer = await login(service.authUrl, k.key);
      if (upBefore) {
        expect(answer).toBe('deny');
        afterResync++;
      }
    }
    expect(service.changes.reloads()).toBe(reloads + 1);
    expect(service.table.byId(k.id)).toBeUndefined();
    expect(service.table.byId(added.id)).toBeDefined(); // the key added in the gap came with the reload
    expect(await login(service.authUrl, other.key)).toBe(`allow vcp-key-${other.id}`);
  });

  it('a flood of distinct unknown keys costs a bounded number of statements, and known keys are answered meanwhile', async () => {
    const known = await seedKey(db.sql, pepper, { orgId: org });
    await expect.poll(() => service.table.byId(known.id)).toBeDefined();
    const perSecond = 10; // this service's AUTH_MISS_LOOKUPS_PER_SECOND
    const statementsBefore = proxy.statements();
    const started = performance.now();
    // 3,000 distinct unknown keys, 200 in flight at a time (more would overflow the listen backlog)
    const flood = (async () => {
      const answers: string[] = [];
      for (let i = 0; i < 3000; i += 200) answers.push(...(await Promise.all(Array.from({ length: 200 }, () => login(service.authUrl, generateApiKey())))));
      return answers;
    })();
    // a known key during the flood: answered from memory, never queued behind the misses
    const knownAnswers = await Promise.all(Array.from({ length: 20 }, () => login(service.authUrl, known.key)));
    expect(await flood).toEqual(Array(3000).fill('deny'));
    const seconds = (performance.now() - started) / 1000;
    expect(knownAnswers).toEqual(Array(20).fill(`allow vcp-key-${known.id}`));
    const statements = proxy.statements() - statementsBefore;
    // One burst of `perSecond`, then `perSecond` a second, however long the flood took, plus a
    // little room for statements that are not miss lookups (the seeded key's NOTIFY re-read can
    // land inside the window; a first lookup's prepare round trip counts as its own statement).
    expect(statements).toBeGreaterThan(0);
    expect(statements).toBeLessThanOrEqual(perSecond * (1 + Math.ceil(seconds)) + 5);
    expect(statements).toBeLessThan(3000 / 2); // far from one per request
  }, 60_000);
});

describe('a key that is not in the table yet', () => {
  it('minted through a second instance, logs in through the first at once', async () => {
    const first = await startTestService(db.url);
    const second = await startTestService(db.url);
    try {
      const res = await fetch(`${second.adminUrl}/api/v1/partner/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-org-id': org },
        body: JSON.stringify({ name: 'minted elsewhere', partnerId: 'p', scopes: ['vcp:connect'] }),
      });
      expect(res.status).toBe(201);
      const { key, apiKey } = (await res.json()) as { key: string; apiKey: { id: string; vhost: string } };
      expect(await login(first.authUrl, key)).toBe(`allow vcp-key-${apiKey.id}`);
      expect((await askAuth(first.authUrl, 'vhost', { username: 'tbl', vhost: apiKey.vhost, ip: '127.0.0.1', tags: `vcp-key-${apiKey.id}` })).body).toBe(
        'allow',
      );
    } finally {
      await first.stop();
      await second.stop();
    }
  });

  it('is found by the bounded database fallback when no notification has come (and then kept)', async () => {
    const lookups: string[] = [];
    // A table with no LISTEN at all: only the fallback can find a key inserted after its load.
    const table = new KeyTable(
      {
        loadAll: (onRows) => loadActiveKeys(db.sql, onRows),
        byHashes: (h) => findKeyByHashes(db.sql, h),
        byId: (id) => findKeyById(db.sql, id),
        byOrganization: (id) => findActiveKeysOfOrganization(db.sql, id),
        rewriteHash: (id, from, to) => rewriteKeyHash(db.sql, id, from, to),
      },
      { onLookup: (kind, outcome) => lookups.push(`${kind}:${outcome}`), missLookupsPerSecond: 2, monotonicNow: () => 0 },
    );
    await table.reload();
    const hasher = new KeyHasher([pepper]);
    const k = await seedKey(db.sql, pepper, { orgId: org });
    const hash = hasher.current(k.key);
    expect(table.byHash(hash)).toBeUndefined();
    expect(await table.loginMiss(hash, () => hasher.candidates(k.key, hash))).toMatchObject({ id: k.id });
    expect(table.byHash(hash)?.id).toBe(k.id);
    expect(table.byId(k.id)?.id).toBe(k.id);
    // The budget (2 a second, burst 2, its clock held still): the third miss is denied unasked.
    const unknown = [generateApiKey(), generateApiKey()];
    for (const u of unknown) expect(await table.loginMiss(hasher.current(u), () => hasher.candidates(u))).not.toMatchObject({ id: expect.anything() });
    expect(lookups).toEqual(['hash:ok', 'hash:ok', 'hash:throttled']);
    // a key in the table is still answered (no budget needed)
    expect(table.byHash(hash)?.id).toBe(k.id);
  });
});
