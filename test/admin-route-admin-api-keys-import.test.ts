// POST /api/v1/admin/api-keys/import: legacy keys by their SHA-256 (super-admin).
// Happy, error and security cases of this one route. The imported key logging in through the
// hot path, and the CLI's `keys import`: test/cli-admin-routes.test.ts.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportApiKeysResponse } from '../src/http/admin/schemas.js';
import { KeyHasher } from '../src/keys/hash.js';
import { type AdminHarness, countRows, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';
import { seedKey } from './support/seed.js';

let h: AdminHarness;
let north: { id: string; slug: string };
let south: { id: string; slug: string };
const IMPORT = '/api/v1/admin/api-keys/import';
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

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const legacyKey = () => `legacy-${randomBytes(16).toString('hex')}`;

function entry(key: string, slug: string, extra: Record<string, unknown> = {}) {
  return {
    keySha256: sha256(key),
    organizationSlug: slug,
    name: 'Legacy ESM key',
    partnerId: 'legacy-esm',
    scopes: ['vcp:connect'],
    allowedIps: ['10.1.0.0/16', '192.0.2.7'],
    expiresAt: null,
    createdAt: '2024-03-01T00:00:00Z',
    ...extra,
  };
}

interface Row {
  id: string;
  organizationId: string;
  keyHash: string;
  importFingerprint: string | null;
  keyPrefix: string;
  name: string;
  partnerId: string;
  scopes: string[];
  allowedIps: string[];
  allowedPlantIds: string[] | null;
  vhost: string | null;
  isActive: boolean;
  legacyScopeExpansion: boolean;
  signingKeyEnc: Buffer | null;
  createdAt: Date;
  updatedAt: Date;
  createdBy: string | null;
}
const rowOf = async (id: string) => (await h.db.sql<Row[]>`SELECT * FROM api_keys WHERE id = ${id}`)[0]!;
const counts = () => countRows(h.db);

describe('POST /api/v1/admin/api-keys/import', () => {
  it('stores legacy keys on vhost "/" with legacy scope expansion, audited as created via import', async () => {
    const k1 = legacyKey();
    const k2 = legacyKey();
    evicted.length = 0;
    const r = await h.call('POST', IMPORT, {
      body: {
        keys: [
          entry(k1, north.slug, { keyPrefix: 'voke_Lg01' }),
          entry(k2, south.slug, { allowedIps: [], scopes: ['trading:connect', 'vcp:connect', 'vcp:connect'], expiresAt: '2099-01-01T00:00:00+02:00' }),
        ],
      },
    });
    expect(r.status, r.text).toBe(200);
    const body = ImportApiKeysResponse.parse(r.body);
    expect(body.existing).toEqual([]);
    expect(body.imported).toHaveLength(2);
    const [a, b] = body.imported;
    expect(a).toMatchObject({ keyPrefix: 'voke_Lg01', organizationId: north.id, name: 'Legacy ESM key' });
    expect(b).toMatchObject({ keyPrefix: `legacy_${b!.id.slice(0, 5)}`, organizationId: south.id });
    expect(evicted.sort()).toEqual([a!.id, b!.id].sort());

    const row = await rowOf(a!.id);
    expect(row).toMatchObject({
      organizationId: north.id,
      keyHash: sha256(k1),
      name: 'Legacy ESM key',
      partnerId: 'legacy-esm',
      scopes: ['vcp:connect'],
      allowedIps: ['10.1.0.0/16', '192.0.2.7/32'],
      allowedPlantIds: null,
      vhost: null,
      isActive: true,
      legacyScopeExpansion: true,
      signingKeyEnc: null,
    });
    expect(row.createdAt.toISOString()).toBe('2024-03-01T00:00:00.000Z');
    // The fingerprint is peppered, not the SHA-256 itself.
    expect(row.importFingerprint).toBe(h.deps.hasher.current(sha256(k1)));
    expect(row.importFingerprint).not.toBe(sha256(k1));
    const second = await rowOf(b!.id);
    expect(second.scopes).toEqual(['trading:connect', 'vcp:connect']);
    expect(second.allowedIps).toEqual([]);

    const events = await h.db.sql<{ apiKeyId: string; actorId: string; organizationId: string; details: unknown }[]>`
      SELECT api_key_id, actor_id, organization_id, details FROM audit_events WHERE type = 'api_key.created' AND api_key_id IN ${h.db.sql([a!.id, b!.id])}`;
    expect(events).toHaveLength(2);
    for (const e of events) {
      expect(e.details).toEqual({ via: 'import' });
      expect(e.actorId).toBe(row.createdBy);
    }
    // The key is listed like any other, on "/".
    const got = await h.call('GET', `/api/v1/partner/api-keys/${a!.id}`, { orgId: north.id });
    expect(got.body).toMatchObject({ id: a!.id, vhost: null, isActive: true, keyPrefix: 'voke_Lg01' });
  });

  it('is idempotent on the hash: a re-import reports the key as existing and changes nothing, whatever happened to it since', async () => {
    const fresh = legacyKey();
    const rewritten = legacyKey();
    const revoked = legacyKey();
    const first = await h.call('POST', IMPORT, { body: { keys: [entry(rewritten, north.slug), entry(revoked, north.slug)] } });
    expect(first.status, first.text).toBe(200);
    const [rw, rv] = first.body.imported as { id: string }[];
    // Since then: the first logged in (the hot path re-stored its hash under the pepper), the second was revoked in SQL.
    await h.db.sql`UPDATE api_keys SET key_hash = ${h.deps.hasher.current(rewritten)} WHERE id = ${rw!.id}`;
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${rv!.id}`;
    const before = { rw: await rowOf(rw!.id), rv: await rowOf(rv!.id), counts: await counts() };

    const again = await h.call('POST', IMPORT, {
      body: { keys: [entry(rewritten, north.slug, { name: 'changed' }), entry(revoked, south.slug), entry(fresh, south.slug)] },
    });
    expect(again.status, again.text).toBe(200);
    expect(again.body.existing.map((k: { id: string }) => k.id)).toEqual([rw!.id, rv!.id]);
    expect(again.body.imported).toHaveLength(1);
    expect(await rowOf(rw!.id)).toEqual(before.rw);
    expect(await rowOf(rv!.id)).toEqual(before.rv);
    expect(await counts()).toEqual({ keys: before.counts.keys + 1, audit: before.counts.audit + 1 });
  });

  it('a key stored before any import under its plain SHA-256 is existing; so is one imported under an older pepper', async () => {
    const seeded = await seedKey(h.db.sql, h.config.peppers[0]!, { orgId: north.id, vhost: null, hashWith: 'plain', key: legacyKey() });
    const r = await h.call('POST', IMPORT, { body: { keys: [entry(seeded.key, north.slug)] } });
    expect(r.body).toEqual({ imported: [], existing: [expect.objectContaining({ id: seeded.id })] });

    const rotatedKey = legacyKey();
    const imported = (await h.call('POST', IMPORT, { body: { keys: [entry(rotatedKey, north.slug)] } })).body.imported[0].id as string;
    await h.db.sql`UPDATE api_keys SET key_hash = ${h.deps.hasher.current(rotatedKey)} WHERE id = ${imported}`;
    const current = h.deps.hasher;
    h.deps.hasher = new KeyHasher([randomBytes(32), ...h.config.peppers]); // the pepper was rotated
    try {
      const again = await h.call('POST', IMPORT, { body: { keys: [entry(rotatedKey, north.slug)] } });
      expect(again.body).toEqual({ imported: [], existing: [expect.objectContaining({ id: imported })] });
    } finally {
      h.deps.hasher = current;
    }
  });

  it('concurrent imports of the same keys, in different orders, store each key once (no deadlock)', async () => {
    const keys = Array.from({ length: 30 }, legacyKey);
    const entries = keys.map((k) => entry(k, south.slug));
    const bodies = [entries, [...entries].reverse(), [...entries.slice(3), ...entries.slice(0, 3)]].map((list) => ({ keys: list }));
    // Three different actors: one actor's imports queue on its users row, different ones do not.
    const tokens = [h.adminToken, h.config.adminTokens[0]!, await h.jwt({ sub: randomUUID(), role: 'SUPER_ADMIN' })];
    const results = await Promise.all(bodies.map((body, i) => h.call('POST', IMPORT, { body, token: tokens[i]! })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const imported = results.flatMap((r) => r.body.imported.map((k: { id: string }) => k.id));
    expect(imported).toHaveLength(30);
    const rows = await h.db.sql`SELECT id FROM api_keys WHERE key_hash IN ${h.db.sql(keys.map(sha256))}`;
    expect(rows).toHaveLength(30);
    // Each answer lists the keys in the order given.
    const reversed = results[1]!.body;
    const shown = [...reversed.imported, ...reversed.existing].map((k: { id: string }) => k.id);
    const byHash = new Map(
      (await h.db.sql<{ id: string; keyHash: string }[]>`SELECT id, key_hash FROM api_keys WHERE key_hash IN ${h.db.sql(keys.map(sha256))}`).map((r) => [
        r.id,
        r.keyHash,
      ]),
    );
    const hashesOf = (list: { id: string }[]) => list.map((k) => byHash.get(k.id));
    const given = [...keys].reverse().map(sha256);
    expect(hashesOf(reversed.imported)).toEqual(given.filter((x) => hashesOf(reversed.imported).includes(x)));
    expect(hashesOf(reversed.existing)).toEqual(given.filter((x) => hashesOf(reversed.existing).includes(x)));
    expect(shown).toHaveLength(30);
  });
});

describe('errors: nothing imported', () => {
  it('an unknown organization slug: 404 ORGANIZATION_NOT_FOUND naming it; the valid keys of the call are not imported either', async () => {
    const before = await counts();
    const r = await h.call('POST', IMPORT, { body: { keys: [entry(legacyKey(), north.slug), entry(legacyKey(), 'no-such-org')] } });
    expectEnvelope(r, 404, 'ORGANIZATION_NOT_FOUND');
    expect(r.body.message).toContain('"no-such-org"');
    expect(r.body.details).toEqual({ organizationSlugs: ['no-such-org'] });
    expect(await counts()).toEqual(before);
  });

  it('invalid entries: 400 VALIDATION_ERROR with the path of the field', async () => {
    const before = await counts();
    const k = legacyKey();
    const cases: [unknown, string][] = [
      [{}, 'body.keys'],
      [{ keys: [] }, 'body.keys'],
      [{ keys: [entry(k, north.slug, { keySha256: 'abc' })] }, 'body.keys.0.keySha256'],
      [{ keys: [entry(k, north.slug), entry(k, south.slug)] }, 'body.keys.1.keySha256'],
      [{ keys: [entry(k, 'Not A Slug')] }, 'body.keys.0.organizationSlug'],
      [{ keys: [entry(k, north.slug, { scopes: ['vcp:everything'] })] }, 'body.keys.0.scopes.0'],
      [{ keys: [entry(k, north.slug, { scopes: [] })] }, 'body.keys.0.scopes'],
      [{ keys: [entry(k, north.slug, { allowedIps: ['300.1.1.1'] })] }, 'body.keys.0.allowedIps.0'],
      [{ keys: [entry(k, north.slug, { keyPrefix: `voke_${'x'.repeat(46)}` })] }, 'body.keys.0.keyPrefix'],
      [{ keys: [entry(k, north.slug, { expiresAt: '2020-01-01T00:00:00Z' })] }, 'body.keys.0.expiresAt'],
      [{ keys: [entry(k, north.slug, { createdAt: '2999-01-01T00:00:00Z' })] }, 'body.keys.0.createdAt'],
      [{ keys: [entry(k, north.slug, { createdAt: 'yesterday' })] }, 'body.keys.0.createdAt'],
      [{ keys: [entry(k, north.slug, { isActive: false })] }, 'body.keys.0'],
      [{ keys: [{ ...entry(k, north.slug), name: undefined }] }, 'body.keys.0.name'],
    ];
    for (const [body, path] of cases) {
      const r = await h.call('POST', IMPORT, { body });
      expectEnvelope(r, 400, 'VALIDATION_ERROR');
      expect(
        r.body.details.issues.map((i: { path: string }) => i.path),
        JSON.stringify(body),
      ).toContain(path);
    }
    expectEnvelope(await h.call('POST', IMPORT, { rawBody: '{"keys": [', headers: { 'content-type': 'application/json' } }), 400, 'VALIDATION_ERROR');
    expect(await counts()).toEqual(before);
  });
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for an ORG_ADMIN or another role', async () => {
    await expectGuarded(h, { method: 'POST', path: IMPORT, access: 'super-admin', body: { keys: [entry(legacyKey(), north.slug)] } }, north.id);
  });
});
