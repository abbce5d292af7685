// POST /api/v1/admin/api-keys/revoke-leaked: revoke keys given by their plaintext (super-admin).
// Happy, error and security cases of this one route. The hot path's denial and the CLI's use
// of it: test/cli-admin-routes.test.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevokeLeakedResponse } from '../src/http/admin/schemas.js';
import { generateApiKey } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hash.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';
import { seedKey } from './support/seed.js';

let h: AdminHarness;
let north: { id: string; slug: string };
let south: { id: string; slug: string };
const LEAKED = '/api/v1/admin/api-keys/revoke-leaked';
const secrets: string[] = [];
const evicted: string[] = [];

beforeAll(async () => {
  h = await createAdminHarness();
  h.deps.evictKey = (id) => void evicted.push(id);
  north = await h.createOrg();
  south = await h.createOrg();
});
afterAll(async () => {
  await h.close();
});

async function mint(orgId: string) {
  const r = await h.mint(orgId);
  expect(r.status, r.text).toBe(201);
  secrets.push(r.body.key);
  return { key: r.body.key as string, ref: { id: r.body.apiKey.id as string, keyPrefix: r.body.apiKey.keyPrefix as string, organizationId: orgId } };
}

const revokedRows = (keyId: string) =>
  h.db.sql<{ actorId: string | null; details: Record<string, unknown>; userAgent: string | null }[]>`
    SELECT actor_id, details, user_agent FROM audit_events WHERE api_key_id = ${keyId} AND type = 'api_key.revoked'`;
const isActive = async (keyId: string) => (await h.db.sql<{ isActive: boolean }[]>`SELECT is_active FROM api_keys WHERE id = ${keyId}`)[0]!.isActive;
const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);

describe('POST /api/v1/admin/api-keys/revoke-leaked', () => {
  it('revokes the keys found (any organization), reports those already revoked and counts the unknown, echoing no key', async () => {
    const a = await mint(north.id);
    const b = await mint(south.id);
    const old = await mint(north.id);
    expect((await h.call('DELETE', `/api/v1/partner/api-keys/${old.ref.id}`, { orgId: north.id })).status).toBe(200);
    const unknown = [generateApiKey(), 'not-a-voke-key-at-all'];
    evicted.length = 0;

    const r = await h.call('POST', LEAKED, { body: { keys: [a.key, b.key, old.key, ...unknown, a.key] }, headers: { 'user-agent': 'secret-scanner/1' } });
    expect(r.status, r.text).toBe(200);
    const body = RevokeLeakedResponse.parse(r.body);
    expect(Object.keys(r.body).sort()).toEqual(['alreadyRevoked', 'revoked', 'unknown']);
    expect(body.revoked.sort(byId)).toEqual([a.ref, b.ref].sort(byId));
    expect(body.alreadyRevoked).toEqual([old.ref]);
    expect(body.unknown).toBe(2); // a duplicate line is one key
    for (const k of [a.key, b.key, old.key, ...unknown]) {
      expect(r.text).not.toContain(k);
      for (const line of h.logs) expect(line).not.toContain(k);
    }
    expect(await isActive(a.ref.id)).toBe(false);
    expect(await isActive(b.ref.id)).toBe(false);
    expect(evicted.sort()).toEqual([a.ref.id, b.ref.id].sort()); // this instance's cache, at once

    // Exactly one audit row each, the route's (reason leaked, actor, user agent); the SQL-revoke
    // trigger of migration 005 added none. The key already revoked got no second row.
    for (const k of [a, b]) {
      const rows = await revokedRows(k.ref.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.details).toEqual({ reason: 'leaked' });
      expect(rows[0]!.actorId).toMatch(/^[0-9a-f-]{36}$/);
      expect(rows[0]!.userAgent).toBe('secret-scanner/1');
    }
    expect(await revokedRows(old.ref.id)).toHaveLength(1);
    const details = await h.db.sql<{ details: Record<string, unknown> }[]>`SELECT details FROM audit_events`;
    for (const row of details) for (const k of [a.key, b.key, old.key]) expect(JSON.stringify(row.details)).not.toContain(k);

    // Again: nothing left to revoke, nothing written.
    const again = RevokeLeakedResponse.parse((await h.call('POST', LEAKED, { body: { keys: [a.key] } })).body);
    expect(again).toEqual({ revoked: [], alreadyRevoked: [a.ref], unknown: 0 });
    expect(await revokedRows(a.ref.id)).toHaveLength(1);
  });

  it('finds keys stored under plain SHA-256 (before the pepper) and under an older pepper', async () => {
    const legacy = await seedKey(h.db.sql, h.config.peppers[0]!, {
      orgId: north.id,
      vhost: null,
      hashWith: 'plain',
      key: `legacy-${randomBytes(12).toString('hex')}`,
    });
    const olderPepper = randomBytes(32);
    const rotated = await seedKey(h.db.sql, olderPepper, { orgId: south.id });
    secrets.push(legacy.key, rotated.key);
    const current = h.deps.hasher;
    h.deps.hasher = new KeyHasher([...h.config.peppers, olderPepper]); // the pepper was rotated: the old one is second
    try {
      const r = await h.call('POST', LEAKED, { body: { keys: [legacy.key, rotated.key] } });
      expect(r.status, r.text).toBe(200);
      expect(r.body.revoked.map((k: { id: string }) => k.id).sort()).toEqual([legacy.id, rotated.id].sort());
      expect(r.body.unknown).toBe(0);
    } finally {
      h.deps.hasher = current;
    }
    for (const id of [legacy.id, rotated.id]) expect(await revokedRows(id)).toHaveLength(1);
  });

  it('concurrent calls with overlapping keys: no deadlock, each key revoked and audited once', async () => {
    const keys = await Promise.all(Array.from({ length: 20 }, (_, i) => mint(i % 2 ? north.id : south.id)));
    const plain = keys.map((k) => k.key);
    // The same actor's calls queue on its users row; different actors' calls overlap.
    const tokens = [h.adminToken, h.config.adminTokens[0]!, await h.jwt({ sub: randomUUID(), role: 'SUPER_ADMIN' })];
    const results = await Promise.all([
      h.call('POST', LEAKED, { body: { keys: plain } }),
      h.call('POST', LEAKED, { body: { keys: plain }, token: tokens[1] }),
      h.call('POST', LEAKED, { body: { keys: [...plain].reverse() }, token: tokens[2] }),
      h.call('POST', LEAKED, { body: { keys: plain.slice(2) } }),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const revokedBy = results.flatMap((r) => r.body.revoked.map((k: { id: string }) => k.id));
    expect(revokedBy.sort()).toEqual(keys.map((k) => k.ref.id).sort()); // each revoked by exactly one call
    for (const k of keys) expect(await revokedRows(k.ref.id)).toHaveLength(1);
  });

  it('1,000 keys in one call', async () => {
    const k = await mint(north.id);
    const keys = [k.key, ...Array.from({ length: 999 }, () => generateApiKey())];
    const r = await h.call('POST', LEAKED, { body: { keys } });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ revoked: [k.ref], alreadyRevoked: [], unknown: 999 });
  });
});

describe('errors: 400 (or 413), nothing revoked, no key quoted', () => {
  it('rejects what is not 1 to 1,000 keys of at most 512 bytes', async () => {
    const victim = await mint(north.id);
    const long = `voke_${'x'.repeat(600)}`;
    const cases: unknown[] = [
      {},
      { keys: [] },
      { keys: 'voke_abc' },
      { keys: [victim.key, 42] },
      { keys: [victim.key, ''] },
      { keys: [victim.key, long] },
      { keys: Array.from({ length: 1001 }, () => victim.key) },
      { keys: [victim.key], extra: true },
      { keys: [victim.key], [victim.key]: 1 }, // an unknown field named like a key is not quoted
    ];
    for (const body of cases) {
      const r = await h.call('POST', LEAKED, { body });
      expectEnvelope(r, 400, 'VALIDATION_ERROR');
      expect(r.text).not.toContain(victim.key);
      expect(r.text).not.toContain(long);
    }
    const notJson = await h.call('POST', LEAKED, { rawBody: `{"keys": ["${victim.key}"`, headers: { 'content-type': 'application/json' } });
    expectEnvelope(notJson, 400, 'VALIDATION_ERROR');
    expect(notJson.text).not.toContain(victim.key);
    const huge = await h.call('POST', LEAKED, { body: { keys: Array.from({ length: 1000 }, () => `voke_${'y'.repeat(100)}`) } });
    expectEnvelope(huge, 413, 'PAYLOAD_TOO_LARGE');
    expect(await isActive(victim.ref.id)).toBe(true);
    for (const line of h.logs) expect(line).not.toContain(victim.key);
  });
});

describe('security', () => {
  it("refused before anything happens: 401 without a valid bearer token, 403 for an ORG_ADMIN of the key's own organization", async () => {
    const k = await mint(north.id);
    await expectGuarded(h, { method: 'POST', path: LEAKED, access: 'super-admin', body: { keys: [k.key] } }, north.id);
    expect(await isActive(k.ref.id)).toBe(true);
  });

  it('no log line ever held a key', () => {
    // Not vacuous: keys were revoked and log lines written by the tests above.
    expect(secrets.length).toBeGreaterThan(0);
    expect(h.logs.length).toBeGreaterThan(0);
    for (const line of h.logs) for (const s of secrets) expect(line).not.toContain(s);
  });
});
