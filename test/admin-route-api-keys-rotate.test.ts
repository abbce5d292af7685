// POST /api/v1/partner/api-keys/:id/rotate: a new secret in place. Happy, error and security
// cases of this one route; the audit row in the same transaction; the key views during and after
// an overlap; revoke-leaked with either secret. The hot path: test/rotation-hot-path.test.ts;
// the broker: test/e2e-rotation.test.ts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RotateApiKeyResponse } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded, FakeBroker } from './support/admin.js';

const KEYS = '/api/v1/partner/api-keys';

describe('POST /api/v1/partner/api-keys/:id/rotate', () => {
  let h: AdminHarness;
  let broker: FakeBroker;
  let org: { id: string; slug: string };
  let other: { id: string; slug: string };
  const evicted: string[] = [];

  beforeAll(async () => {
    broker = new FakeBroker();
    h = await createAdminHarness({ broker });
    h.deps.evictKey = (id) => void evicted.push(id);
    org = await h.createOrg();
    other = await h.createOrg();
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    evicted.length = 0;
  });

  const rotate = (id: string, body?: unknown, orgId = org.id) => h.call('POST', `${KEYS}/${id}/rotate`, { orgId, ...(body === undefined ? {} : { body }) });
  const rowOf = async (id: string) =>
    (
      await h.db.sql<
        {
          keyHash: string;
          keyPrefix: string;
          previousKeyHash: string | null;
          previousKeyPrefix: string | null;
          previousKeyExpiresAt: Date | null;
          keyGeneration: number;
          vhost: string | null;
          scopes: string[];
          allowedIps: string[];
          signingKeyEnc: Buffer | null;
          isActive: boolean;
        }[]
      >`
      SELECT key_hash, key_prefix, previous_key_hash, previous_key_prefix, previous_key_expires_at, key_generation, vhost, scopes, allowed_ips,
             signing_key_enc, is_active
      FROM api_keys WHERE id = ${id}`
    )[0]!;
  const auditOf = (id: string) =>
    h.db.sql<{ actorId: string | null; userAgent: string | null; details: Record<string, unknown> }[]>`
      SELECT actor_id, user_agent, details FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.rotated' ORDER BY created_at`;

  it('200: a new secret for the same key (id, vhost, scopes, allowlist, signing key); the previous one valid for 24 h by default', async () => {
    const minted = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:mode'], allowedIps: ['203.0.113.0/24'] });
    const id = minted.body.apiKey.id as string;
    const before = await rowOf(id);
    evicted.length = 0;
    broker.calls.length = 0;
    const t0 = Date.now();
    const r = await h.call('POST', `${KEYS}/${id}/rotate`, { orgId: org.id, headers: { 'user-agent': 'ops-console/2.0' } });
    expect(r.status, r.text).toBe(200);
    const body = RotateApiKeyResponse.parse(r.body);
    expect(Object.keys(r.body).sort()).toEqual(['apiKey', 'connection', 'key', 'previousKeyExpiresAt']);
    expect(body.key).toMatch(/^voke_[A-Za-z0-9]{46}$/);
    expect(body.key).not.toBe(minted.body.key);
    expect(body.apiKey).toMatchObject({
      id,
      vhost: `partner-${id}`,
      scopes: ['vcp:connect', 'vcp:write:mode'],
      allowedIps: ['203.0.113.0/24'],
      isActive: true,
      keyPrefix: body.key.slice(0, 9),
      previousKeyPrefix: minted.body.key.slice(0, 9),
      previousKeyExpiresAt: body.previousKeyExpiresAt,
    });
    const end = Date.parse(body.previousKeyExpiresAt);
    expect(end).toBeGreaterThanOrEqual(t0 + 86_400_000 - 5_000);
    expect(end).toBeLessThanOrEqual(Date.now() + 86_400_000 + 5_000);
    expect(body.connection!.uri).toContain(encodeURIComponent(body.key));
    expect(body.connection!.vhost).toBe(`partner-${id}`);
    const after = await rowOf(id);
    expect(after.keyHash).toBe(h.deps.hasher.current(body.key));
    expect(after.previousKeyHash).toBe(before.keyHash);
    expect(after.previousKeyPrefix).toBe(before.keyPrefix);
    expect(after.keyGeneration).toBe(1);
    expect(after.signingKeyEnc!.equals(before.signingKeyEnc!)).toBe(true);
    expect([after.vhost, after.scopes, after.allowedIps]).toEqual([before.vhost, before.scopes, before.allowedIps]);
    // No broker call: the vhost, its queues and permissions stay as they are.
    expect(broker.calls).toEqual([]);
    expect(evicted).toEqual([id]);
    const audit = await auditOf(id);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.details).toEqual({
      previousKeyPrefix: before.keyPrefix,
      keyPrefix: after.keyPrefix,
      previousKeyExpiresAt: body.previousKeyExpiresAt,
      overlapSeconds: 86_400,
      generation: 1,
      endedOlderOverlap: false,
    });
    expect(audit[0]!.userAgent).toBe('ops-console/2.0');
    expect(audit[0]!.actorId).not.toBeNull();
    // The secret is in the answer once and nowhere else.
    for (const secret of [body.key, encodeURIComponent(body.key)]) {
      expect(JSON.stringify(audit)).not.toContain(secret);
      expect(h.logs.join('\n')).not.toContain(secret);
    }
    expect(r.text).not.toContain(minted.body.signingKey);
  });

  it('the key views show the current prefix and, during the overlap only, the previous prefix and its end', async () => {
    const minted = await h.mint(org.id);
    const id = minted.body.apiKey.id as string;
    const r = await rotate(id, { overlapSeconds: 3600 });
    const expected = { keyPrefix: r.body.key.slice(0, 9), previousKeyPrefix: minted.body.key.slice(0, 9), previousKeyExpiresAt: r.body.previousKeyExpiresAt };
    expect((await h.call('GET', `${KEYS}/${id}`, { orgId: org.id })).body).toMatchObject(expected);
    const list = await h.call('GET', `${KEYS}?limit=100`, { orgId: org.id });
    expect(list.body.data.find((k: { id: string }) => k.id === id)).toMatchObject(expected);
    const search = await h.call('GET', `/api/v1/admin/api-keys?prefix=${expected.keyPrefix}`);
    expect(search.body.data).toEqual([expect.objectContaining({ id, ...expected })]);
    // The overlap ends (moved into the past as ops could in SQL): the previous prefix is gone from the views.
    await h.db.sql`UPDATE api_keys SET previous_key_expires_at = now() - interval '1 second' WHERE id = ${id}`;
    expect((await h.call('GET', `${KEYS}/${id}`, { orgId: org.id })).body).toMatchObject({
      keyPrefix: expected.keyPrefix,
      previousKeyPrefix: null,
      previousKeyExpiresAt: null,
    });
    // A key never rotated: null in all three.
    const plain = (await h.mint(org.id)).body.apiKey;
    expect(plain).toMatchObject({ previousKeyPrefix: null, previousKeyExpiresAt: null, rotatedAt: null });
  });

  it('overlapSeconds 0 (emergency) ends the previous secret now; no body and {} mean the default', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    const r = await rotate(id, { overlapSeconds: 0 });
    expect(r.status, r.text).toBe(200);
    expect(Math.abs(Date.parse(r.body.previousKeyExpiresAt) - Date.now())).toBeLessThan(5_000);
    expect(r.body.apiKey.previousKeyPrefix).toBeNull();
    const [closeout] = await h.db.sql<
      { keepFromGeneration: number; dueAt: Date }[]
    >`SELECT keep_from_generation, due_at FROM api_key_closeouts WHERE api_key_id = ${id}`;
    expect(closeout!.keepFromGeneration).toBe(1);
    for (const body of [undefined, {}]) {
      const again = await rotate(id, body);
      expect(again.status, again.text).toBe(200);
      expect(Date.parse(again.body.previousKeyExpiresAt) - Date.now()).toBeGreaterThan(86_400_000 - 10_000);
    }
    expect((await rowOf(id)).keyGeneration).toBe(3);
  });

  it('rotating during an overlap drops the older previous secret: at most two, audited as such', async () => {
    const minted = await h.mint(org.id);
    const id = minted.body.apiKey.id as string;
    const first = await rotate(id, { overlapSeconds: 3600 });
    const second = await rotate(id, { overlapSeconds: 600 });
    const row = await rowOf(id);
    expect(row.previousKeyHash).toBe(h.deps.hasher.current(first.body.key));
    expect(row.keyHash).toBe(h.deps.hasher.current(second.body.key));
    expect(second.body.apiKey.previousKeyPrefix).toBe(first.body.key.slice(0, 9));
    expect((await auditOf(id)).map((a) => a.details.endedOlderOverlap)).toEqual([false, true]);
  });

  it('a REST-only key rotates too (connection null)', async () => {
    const id = (await h.mint(org.id, { scopes: ['plants:read'] })).body.apiKey.id as string;
    const r = await rotate(id);
    expect(r.status, r.text).toBe(200);
    expect(r.body.connection).toBeNull();
    expect(await h.db.sql`SELECT 1 FROM api_key_closeouts WHERE api_key_id = ${id}`).toHaveLength(0);
  });

  it.each([
    ['negative', { overlapSeconds: -1 }],
    ['above 7 days', { overlapSeconds: 604_801 }],
    ['not an integer', { overlapSeconds: 1.5 }],
    ['a string', { overlapSeconds: '3600' }],
    ['null', { overlapSeconds: null }],
    ['an unknown field', { overlapSeconds: 60, reason: 'leak' }],
    ['not an object', [60]],
  ])('400 VALIDATION_ERROR: %s; nothing changes', async (_, body) => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    const before = await rowOf(id);
    expectEnvelope(await rotate(id, body), 400, 'VALIDATION_ERROR');
    expect(await rowOf(id)).toEqual(before);
    expect(await auditOf(id)).toEqual([]);
  });

  it('7 days exactly is allowed; malformed JSON is a 400', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    expect((await rotate(id, { overlapSeconds: 604_800 })).status).toBe(200);
    expectEnvelope(
      await h.call('POST', `${KEYS}/${id}/rotate`, { orgId: org.id, rawBody: '{"overlapSeconds":', headers: { 'content-type': 'application/json' } }),
      400,
      'VALIDATION_ERROR',
    );
  });

  it('a revoked key: 409 CONFLICT; an expired key: 409 CONFLICT; nothing changes, no audit row', async () => {
    const revoked = (await h.mint(org.id)).body.apiKey.id as string;
    expect((await h.call('DELETE', `${KEYS}/${revoked}`, { orgId: org.id })).status).toBe(200);
    const before = await rowOf(revoked);
    const r = await rotate(revoked);
    expectEnvelope(r, 409, 'CONFLICT');
    expect(r.body.details).toEqual({ reason: 'revoked' });
    expect(await rowOf(revoked)).toEqual(before);
    expect(await auditOf(revoked)).toEqual([]);
    const expired = (await h.mint(org.id, { expiresAt: new Date(Date.now() + 60_000).toISOString() })).body.apiKey.id as string;
    await h.db.sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${expired}`;
    const e = await rotate(expired);
    expectEnvelope(e, 409, 'CONFLICT');
    expect(e.body.details).toEqual({ reason: 'expired' });
    expect(await auditOf(expired)).toEqual([]);
  });

  it("another organization's key: 404 API_KEY_NOT_FOUND (untouched); unknown id: 404; not a UUID: 400 INVALID_UUID", async () => {
    const theirs = (await h.mint(other.id)).body.apiKey.id as string;
    const before = await rowOf(theirs);
    expectEnvelope(await rotate(theirs), 404, 'API_KEY_NOT_FOUND');
    expect(await rowOf(theirs)).toEqual(before);
    expectEnvelope(await rotate(randomUUID()), 404, 'API_KEY_NOT_FOUND');
    expectEnvelope(await rotate('not-a-uuid'), 400, 'INVALID_UUID');
  });

  it('the audit row is in the same transaction: when it cannot be written, the key keeps its secret', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    const before = await rowOf(id);
    await h.db.sql.unsafe(`
      CREATE FUNCTION test_refuse_rotated_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit refused by the test'; END $$;
      CREATE TRIGGER test_refuse_rotated_audit BEFORE INSERT ON audit_events
        FOR EACH ROW WHEN (NEW.type = 'api_key.rotated') EXECUTE FUNCTION test_refuse_rotated_audit();`);
    try {
      expectEnvelope(await rotate(id), 500, 'INTERNAL_SERVER_ERROR');
      expect(await rowOf(id)).toEqual(before);
      expect(await h.db.sql`SELECT 1 FROM api_key_closeouts WHERE api_key_id = ${id}`).toHaveLength(0);
    } finally {
      await h.db.sql.unsafe('DROP TRIGGER test_refuse_rotated_audit ON audit_events; DROP FUNCTION test_refuse_rotated_audit();');
    }
  });

  it('revoke-leaked with either valid secret revokes the whole key; an expired previous secret is unknown', async () => {
    const a = await h.mint(org.id);
    const aNext = await rotate(a.body.apiKey.id, { overlapSeconds: 3600 });
    const byPrevious = await h.call('POST', '/api/v1/admin/api-keys/revoke-leaked', { body: { keys: [a.body.key] } });
    expect(byPrevious.body).toMatchObject({ revoked: [{ id: a.body.apiKey.id }], unknown: 0 });
    expect((await rowOf(a.body.apiKey.id)).isActive).toBe(false);
    expect(aNext.status).toBe(200);

    const b = await h.mint(org.id);
    const bNext = await rotate(b.body.apiKey.id, { overlapSeconds: 3600 });
    const byCurrent = await h.call('POST', '/api/v1/admin/api-keys/revoke-leaked', { body: { keys: [bNext.body.key] } });
    expect(byCurrent.body).toMatchObject({ revoked: [{ id: b.body.apiKey.id }], unknown: 0 });

    const c = await h.mint(org.id);
    await rotate(c.body.apiKey.id, { overlapSeconds: 0 });
    const byExpired = await h.call('POST', '/api/v1/admin/api-keys/revoke-leaked', { body: { keys: [c.body.key] } });
    expect(byExpired.body).toMatchObject({ revoked: [], unknown: 1 });
    expect((await rowOf(c.body.apiKey.id)).isActive).toBe(true);
  });

  it('is documented in /openapi.json with its body, answer and errors', async () => {
    const doc = (await h.call('GET', '/openapi.json', { token: null })).body;
    const op = doc.paths['/api/v1/partner/api-keys/{id}/rotate'].post;
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '403', '404', '409', '413', '500']);
    expect(JSON.stringify(op.requestBody)).toContain('overlapSeconds');
  });

  describe('security', () => {
    it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
      const id = (await h.mint(org.id)).body.apiKey.id as string;
      await expectGuarded(h, { method: 'POST', path: `${KEYS}/${id}/rotate`, access: 'org', body: { overlapSeconds: 60 } }, org.id);
      expect((await rowOf(id)).keyGeneration).toBe(0);
    });

    it("an ORG_ADMIN rotates its own org's keys, never another's", async () => {
      const id = (await h.mint(org.id)).body.apiKey.id as string;
      const token = await h.orgAdminToken(org.id);
      expect((await h.call('POST', `${KEYS}/${id}/rotate`, { token, orgId: org.id, body: { overlapSeconds: 60 } })).status).toBe(200);
      const theirs = (await h.mint(other.id)).body.apiKey.id as string;
      expectEnvelope(await h.call('POST', `${KEYS}/${theirs}/rotate`, { token, orgId: other.id, body: {} }), 403, 'FORBIDDEN');
    });
  });
});
