// Partner API-key routes without a broker: mint, get, list, revoke, acknowledge, test-connection.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyKey, displayPrefix } from '../src/keys/format.js';
import { decryptSigningKey } from '../src/keys/signing.js';
import { BROKER_NOT_CONFIGURED } from '../src/http/admin/routes/api-keys-test-connection.js';
import { ApiKey, CreateApiKeyResponse, Message, TestConnectionResponse } from '../src/http/admin/schemas.js';
import { createAdminHarness, expectEnvelope, type AdminHarness } from './support/admin.js';

let h: AdminHarness;
let org: { id: string; slug: string };
let other: { id: string; slug: string };
const KEYS = '/api/v1/partner/api-keys';

beforeAll(async () => {
  h = await createAdminHarness();
  org = await h.createOrg();
  other = await h.createOrg();
});
afterAll(async () => { await h.close(); });

const API_KEY_FIELDS = [
  'allowedIps', 'createdAt', 'createdBy', 'creator', 'expiresAt', 'id', 'isActive', 'keyPrefix', 'lastUsedAt',
  'name', 'organizationId', 'partnerId', 'scopes', 'updatedAt', 'vhost',
];

describe('POST /api/v1/partner/api-keys (mint)', () => {
  it('answers 201 with key, signingKey, apiKey and connection, exactly as documented', async () => {
    const plant = randomUUID();
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const r = await h.mint(org.id, {
      name: 'ESM integration key',
      partnerId: 'my-esm-platform',
      scopes: ['vcp:connect', 'vcp:read', 'vcp:write:setpoint', 'vcp:connect'],
      allowedIps: ['203.0.113.5/32', '198.51.100.7', '2001:db8::1', '10.20.30.0/24'],
      allowedPlantIds: [plant],
      expiresAt,
    });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(['apiKey', 'connection', 'key', 'signingKey']);
    const body = CreateApiKeyResponse.parse(r.body);
    expect(Object.keys(body.apiKey).sort()).toEqual(API_KEY_FIELDS);
    expect(r.headers.get('cache-control')).toBe('no-store');

    const { key, signingKey, apiKey, connection } = body;
    expect(classifyKey(key)).toBe('current');
    expect(signingKey).toMatch(/^[0-9a-f]{64}$/);
    expect(apiKey).toMatchObject({
      keyPrefix: displayPrefix(key),
      name: 'ESM integration key',
      partnerId: 'my-esm-platform',
      scopes: ['vcp:connect', 'vcp:read', 'vcp:write:setpoint'],
      allowedIps: ['203.0.113.5/32', '198.51.100.7/32', '2001:db8::1/128', '10.20.30.0/24'],
      vhost: `partner-${apiKey.id}`,
      isActive: true,
      expiresAt,
      lastUsedAt: null,
      organizationId: org.id,
    });
    expect(apiKey.createdBy).toBe(apiKey.creator!.id);
    expect(Object.keys(apiKey.creator!).sort()).toEqual(['createdAt', 'email', 'id', 'name', 'role', 'updatedAt']);

    expect(connection).toEqual({
      uri: `amqps://${org.slug}:${encodeURIComponent(key)}@amqp.example.test:5671/partner-${apiKey.id}`,
      host: 'amqp.example.test',
      port: 5671,
      username: org.slug,
      vhost: `partner-${apiKey.id}`,
      queues: {
        telemetry: `vcp.${org.slug}.event.telemetry`,
        alarm: `vcp.${org.slug}.event.alarm`,
        status: `vcp.${org.slug}.event.status`,
        command: `vcp.${org.slug}.command`,
        schedule: `vcp.${org.slug}.schedule`,
        config: `vcp.${org.slug}.config`,
      },
      selfTest: { status: 'skipped' },
    });

    const [row] = await h.db.sql`
      SELECT key_hash, key_prefix, vhost, legacy_scope_expansion, allowed_plant_ids, signing_key_enc, is_active, created_by
      FROM api_keys WHERE id = ${apiKey.id}`;
    expect(row!.key_hash).toBe(h.deps.hasher.current(key));
    expect(row!.key_prefix).toBe(displayPrefix(key));
    expect(row!.vhost).toBe(`partner-${apiKey.id}`);
    expect(row!.legacy_scope_expansion).toBe(false);
    expect(row!.allowed_plant_ids).toEqual([plant]);
    expect(decryptSigningKey(row!.signing_key_enc as Buffer, h.config.signingKeyEncryptionKey)).toBe(signingKey);

    const events = await h.db.sql`SELECT type, actor_id, details FROM audit_events WHERE api_key_id = ${apiKey.id}`;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'api_key.created', actor_id: apiKey.createdBy });
    expect(events[0]!.details).toMatchObject({ scopes: apiKey.scopes, vhost: apiKey.vhost, signingKey: true });
  });

  it('gives a signing key only with a vcp:write:* scope (null otherwise, nothing stored)', async () => {
    for (const scopes of [['vcp:connect'], ['vcp:connect', 'vcp:read'], ['plants:read', 'trading:write', 'config:write'], ['trading:connect']]) {
      const r = await h.mint(org.id, { scopes });
      expect(r.status).toBe(201);
      expect(r.body.signingKey).toBeNull();
      const [row] = await h.db.sql`SELECT signing_key_enc FROM api_keys WHERE id = ${r.body.apiKey.id}`;
      expect(row!.signing_key_enc).toBeNull();
    }
    for (const scope of ['vcp:write:setpoint', 'vcp:write:device-command', 'vcp:write:schedule', 'vcp:write:mode', 'vcp:write:config']) {
      const r = await h.mint(org.id, { scopes: [scope] });
      expect(r.body.signingKey).toMatch(/^[0-9a-f]{64}$/);
      const [row] = await h.db.sql`SELECT signing_key_enc FROM api_keys WHERE id = ${r.body.apiKey.id}`;
      const enc = row!.signing_key_enc as Buffer;
      expect(enc.toString('hex')).not.toContain(r.body.signingKey);
      expect(decryptSigningKey(enc, h.config.signingKeyEncryptionKey)).toBe(r.body.signingKey);
    }
  });

  it('omitted optional fields: no IP restriction, all plants, no expiry', async () => {
    const r = await h.mint(org.id, { allowedIps: null, allowedPlantIds: null, expiresAt: null });
    expect(r.status).toBe(201);
    expect(r.body.apiKey).toMatchObject({ allowedIps: [], expiresAt: null });
    const [row] = await h.db.sql`SELECT allowed_ips, allowed_plant_ids FROM api_keys WHERE id = ${r.body.apiKey.id}`;
    expect(row).toEqual({ allowed_ips: [], allowed_plant_ids: null });
  });

  it('every key and vhost is distinct', async () => {
    const a = await h.mint(org.id);
    const b = await h.mint(org.id);
    expect(a.body.key).not.toBe(b.body.key);
    expect(a.body.apiKey.vhost).not.toBe(b.body.apiKey.vhost);
  });

  const invalid: [string, Record<string, unknown>][] = [
    ['empty scopes', { scopes: [] }],
    ['unknown scope', { scopes: ['vcp:connect', 'vcp:admin'] }],
    ['scopes not an array', { scopes: 'vcp:connect' }],
    ['missing scopes', { scopes: undefined }],
    ['bad CIDR', { allowedIps: ['10.0.0.0/33'] }],
    ['not an address', { allowedIps: ['example.com'] }],
    ['partial address', { allowedIps: ['10.1'] }],
    ['plant id not a UUID', { allowedPlantIds: ['plant-1'] }],
    ['expiresAt in the past', { expiresAt: '2020-01-01T00:00:00Z' }],
    ['expiresAt now-ish', { expiresAt: new Date(Date.now() - 1000).toISOString() }],
    ['expiresAt without offset', { expiresAt: '2999-01-01T00:00:00' }],
    ['expiresAt not a date', { expiresAt: 'tomorrow' }],
    ['expiresAt past the year 9999 in UTC', { expiresAt: '9999-12-31T23:59:59-23:59' }],
    ['empty name', { name: '' }],
    ['name of 101 chars', { name: 'x'.repeat(101) }],
    ['partnerId of 101 chars', { partnerId: 'x'.repeat(101) }],
    ['empty partnerId', { partnerId: '' }],
    ['name not a string', { name: 5 }],
    ['NUL in name (PostgreSQL cannot store it)', { name: 'a\u0000b' }],
    ['control character in partnerId', { partnerId: 'a\nb' }],
    ['unknown field', { isActive: false }],
    ['vhost cannot be chosen', { vhost: '/' }],
  ];
  for (const [what, patch] of invalid) {
    it(`rejects ${what}: 400 VALIDATION_ERROR`, async () => {
      const before = await h.db.sql`SELECT count(*)::int AS n FROM api_keys`;
      const r = await h.mint(org.id, patch);
      expectEnvelope(r, 400, 'VALIDATION_ERROR');
      expect(r.body.details.issues.length).toBeGreaterThan(0);
      expect(r.body.details.issues[0].path).toMatch(/^body/);
      const after = await h.db.sql`SELECT count(*)::int AS n FROM api_keys`;
      expect(after[0]!.n).toBe(before[0]!.n);
    });
  }

  it('a past expiresAt names the field', async () => {
    const r = await h.mint(org.id, { expiresAt: '2020-01-01T00:00:00Z' });
    expect(r.body.details.issues).toEqual([{ path: 'body.expiresAt', code: 'custom', message: 'must be in the future' }]);
  });

  it('rejects a body that is not an object', async () => {
    for (const body of [[], 'text', 42, null]) {
      expectEnvelope(await h.call('POST', KEYS, { orgId: org.id, body }), 400, 'VALIDATION_ERROR');
    }
  });

  it('accepts the boundaries: 100-char name and partnerId', async () => {
    const r = await h.mint(org.id, { name: 'n'.repeat(100), partnerId: 'p'.repeat(100) });
    expect(r.status).toBe(201);
  });
});

describe('GET /api/v1/partner/api-keys/:id', () => {
  it('returns the key without any secret', async () => {
    const minted = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:mode'] });
    const r = await h.call('GET', `${KEYS}/${minted.body.apiKey.id}`, { orgId: org.id });
    expect(r.status).toBe(200);
    expect(ApiKey.parse(r.body)).toEqual(minted.body.apiKey);
    expect(Object.keys(r.body).sort()).toEqual(API_KEY_FIELDS);
    expect(r.text).not.toContain(minted.body.key);
    expect(r.text).not.toContain(minted.body.signingKey);
  });

  it("another organization's key: 404 API_KEY_NOT_FOUND; unknown id: 404; not a UUID: 400 INVALID_UUID", async () => {
    const theirs = await h.mint(other.id);
    expectEnvelope(await h.call('GET', `${KEYS}/${theirs.body.apiKey.id}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    expectEnvelope(await h.call('GET', `${KEYS}/${randomUUID()}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    const bad = await h.call('GET', `${KEYS}/not-a-uuid`, { orgId: org.id });
    expectEnvelope(bad, 400, 'INVALID_UUID');
    expect(bad.body.message).toBe('Invalid API key UUID');
  });
});

describe('DELETE /api/v1/partner/api-keys/:id (revoke)', () => {
  it('revokes: 200 {message}, is_active false, revoked_at set; idempotent with one audit row', async () => {
    const minted = await h.mint(org.id);
    const id = minted.body.apiKey.id as string;
    const first = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id, headers: { 'user-agent': 'revoker/1' } });
    expect(first.status).toBe(200);
    expect(Message.parse(first.body)).toEqual({ message: 'API key revoked' });
    const [row] = await h.db.sql`SELECT is_active, revoked_at FROM api_keys WHERE id = ${id}`;
    expect(row!.is_active).toBe(false);
    expect(row!.revoked_at).toBeInstanceOf(Date);

    const second = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    const [again] = await h.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${id}`;
    expect(again!.revoked_at).toEqual(row!.revoked_at);

    const events = await h.db.sql`SELECT type, user_agent, actor_id FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.revoked'`;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ user_agent: 'revoker/1', actor_id: minted.body.apiKey.createdBy });

    const got = await h.call('GET', `${KEYS}/${id}`, { orgId: org.id });
    expect(got.body.isActive).toBe(false);
  });

  it('concurrent revokes write one audit row', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    const results = await Promise.all(Array.from({ length: 5 }, () => h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const events = await h.db.sql`SELECT 1 FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.revoked'`;
    expect(events).toHaveLength(1);
  });

  it('a key deactivated by plain SQL gets its revoked_at and audit row from the API', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    const [row] = await h.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${id}`;
    expect(row!.revoked_at).toBeInstanceOf(Date);
  });

  it("another organization's key: 404 and untouched; not a UUID: 400 INVALID_UUID", async () => {
    const theirs = (await h.mint(other.id)).body.apiKey.id as string;
    expectEnvelope(await h.call('DELETE', `${KEYS}/${theirs}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    const [row] = await h.db.sql`SELECT is_active FROM api_keys WHERE id = ${theirs}`;
    expect(row!.is_active).toBe(true);
    expectEnvelope(await h.call('DELETE', `${KEYS}/123`, { orgId: org.id }), 400, 'INVALID_UUID');
    expectEnvelope(await h.call('DELETE', `${KEYS}/${randomUUID()}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
  });
});

describe('POST /api/v1/partner/api-keys/:id/acknowledge', () => {
  it('sets acknowledged_at once and audits once', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    const first = await h.call('POST', `${KEYS}/${id}/acknowledge`, { orgId: org.id });
    expect(first.status).toBe(200);
    expect(Message.parse(first.body)).toEqual({ message: 'Bundle acknowledged' });
    const [row] = await h.db.sql`SELECT acknowledged_at FROM api_keys WHERE id = ${id}`;
    expect(row!.acknowledged_at).toBeInstanceOf(Date);
    expect((await h.call('POST', `${KEYS}/${id}/acknowledge`, { orgId: org.id, body: {} })).status).toBe(200);
    const [again] = await h.db.sql`SELECT acknowledged_at FROM api_keys WHERE id = ${id}`;
    expect(again!.acknowledged_at).toEqual(row!.acknowledged_at);
    const events = await h.db.sql`SELECT 1 FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.bundle_acknowledged'`;
    expect(events).toHaveLength(1);
  });

  it('errors: other org 404, not a UUID 400, unknown body field 400', async () => {
    const theirs = (await h.mint(other.id)).body.apiKey.id as string;
    expectEnvelope(await h.call('POST', `${KEYS}/${theirs}/acknowledge`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    expectEnvelope(await h.call('POST', `${KEYS}/nope/acknowledge`, { orgId: org.id }), 400, 'INVALID_UUID');
    const mine = (await h.mint(org.id)).body.apiKey.id as string;
    expectEnvelope(await h.call('POST', `${KEYS}/${mine}/acknowledge`, { orgId: org.id, body: { saved: true } }), 400, 'VALIDATION_ERROR');
  });
});

describe('POST /api/v1/partner/api-keys/:id/test-connection without a broker', () => {
  it('the right key: ok false "broker not configured", audited without the key', async () => {
    const minted = await h.mint(org.id);
    const id = minted.body.apiKey.id as string;
    const r = await h.call('POST', `${KEYS}/${id}/test-connection`, { orgId: org.id, body: { key: minted.body.key } });
    expect(r.status).toBe(200);
    expect(TestConnectionResponse.parse(r.body)).toEqual({ ok: false, error: BROKER_NOT_CONFIGURED });
    const [event] = await h.db.sql`SELECT details FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.test_connection'`;
    expect(event!.details).toEqual({ ok: false, durationMs: null, error: BROKER_NOT_CONFIGURED });
  });

  it('a key that is not this key\'s secret: ok false, no probe', async () => {
    const a = await h.mint(org.id);
    const b = await h.mint(org.id);
    const r = await h.call('POST', `${KEYS}/${a.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: b.body.key } });
    expect(r.body).toEqual({ ok: false, error: 'The pasted key is not the secret of this API key' });
  });

  it('errors: missing key 400, oversized key 400, unknown field 400, other org 404, bad id 400', async () => {
    const minted = await h.mint(org.id);
    const path = `${KEYS}/${minted.body.apiKey.id}/test-connection`;
    expectEnvelope(await h.call('POST', path, { orgId: org.id, body: {} }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await h.call('POST', path, { orgId: org.id, body: { key: 'k'.repeat(513) } }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await h.call('POST', path, { orgId: org.id, body: { key: minted.body.key, vhost: '/' } }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await h.call('POST', path, { orgId: other.id, body: { key: minted.body.key } }), 404, 'API_KEY_NOT_FOUND');
    expectEnvelope(await h.call('POST', `${KEYS}/x/test-connection`, { orgId: org.id, body: { key: 'k' } }), 400, 'INVALID_UUID');
  });

  it('a rejected pasted key is not echoed back in the error details', async () => {
    const minted = await h.mint(org.id);
    const r = await h.call('POST', `${KEYS}/${minted.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: minted.body.key, extra: 1 } });
    expect(r.text).not.toContain(minted.body.key);
  });
});
