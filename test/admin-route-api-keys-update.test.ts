// PATCH /api/v1/partner/api-keys/:id: rename a key and/or replace its allowlist.
// Happy, error and security cases of this one route, then the change reaching another
// instance's hot path through NOTIFY (two running services on one database).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyDetail } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded, FakeBroker } from './support/admin.js';
import { askAuth, startTwoInstances, type TwoInstances } from './support/service.js';

const KEYS = '/api/v1/partner/api-keys';

describe('PATCH /api/v1/partner/api-keys/:id', () => {
  let h: AdminHarness;
  let broker: FakeBroker;
  let org: { id: string; slug: string };
  let other: { id: string; slug: string };

  beforeAll(async () => {
    broker = new FakeBroker();
    h = await createAdminHarness({ broker });
    org = await h.createOrg();
    other = await h.createOrg();
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    broker.calls.length = 0;
  });

  const patch = (id: string, body: unknown, orgId = org.id) => h.call('PATCH', `${KEYS}/${id}`, { orgId, body });
  const auditOf = (id: string) =>
    h.db.sql<{ type: string; actorId: string | null; ip: string | null; userAgent: string | null; details: Record<string, unknown> }[]>`
      SELECT type, actor_id, ip::text AS ip, user_agent, details FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.updated' ORDER BY created_at`;
  const rowOf = async (id: string) =>
    (
      await h.db.sql<{ name: string; allowedIps: string[]; scopes: string[]; expiresAt: Date | null; updatedAt: Date }[]>`
      SELECT name, allowed_ips, scopes, expires_at, updated_at FROM api_keys WHERE id = ${id}`
    )[0]!;

  it('renames: 200 with the key exactly as GET returns it, one api_key.updated row with before → after', async () => {
    const minted = await h.mint(org.id, { name: 'old name', allowedIps: ['203.0.113.0/24'] });
    const id = minted.body.apiKey.id as string;
    broker.calls.length = 0;
    const r = await h.call('PATCH', `${KEYS}/${id}`, { orgId: org.id, body: { name: 'new name' }, headers: { 'user-agent': 'ops-console/1.0' } });
    expect(r.status, r.text).toBe(200);
    const body = ApiKeyDetail.parse(r.body);
    expect(body.name).toBe('new name');
    expect(body.allowedIps).toEqual(['203.0.113.0/24']);
    expect(new Date(body.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(minted.body.apiKey.updatedAt).getTime());
    const get = await h.call('GET', `${KEYS}/${id}`, { orgId: org.id });
    expect(r.body).toEqual(get.body);
    expect(r.body.connection.uri).toContain('<API_KEY>');
    const audit = await auditOf(id);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.details).toEqual({ changes: { name: { before: 'old name', after: 'new name' } } });
    expect(audit[0]!.userAgent).toBe('ops-console/1.0');
    expect(audit[0]!.actorId).not.toBeNull();
    // The allowlist did not change: no connection is looked at.
    expect(broker.calls).toEqual([]);
  });

  it("replaces the allowlist with mint's normalisation; asks the broker to enforce the new list", async () => {
    const minted = await h.mint(org.id, { allowedIps: ['10.0.0.0/8'] });
    const id = minted.body.apiKey.id as string;
    broker.calls.length = 0;
    const r = await patch(id, { allowedIps: ['192.0.2.7', '2001:db8::1', '192.0.2.7', '198.51.100.0/24'] });
    expect(r.status, r.text).toBe(200);
    expect(r.body.allowedIps).toEqual(['192.0.2.7/32', '2001:db8::1/128', '198.51.100.0/24']);
    expect((await rowOf(id)).allowedIps).toEqual(['192.0.2.7/32', '2001:db8::1/128', '198.51.100.0/24']);
    expect(broker.calls).toEqual([`enforce partner-${id} 192.0.2.7/32,2001:db8::1/128,198.51.100.0/24`]);
    const audit = await auditOf(id);
    expect(audit.map((a) => a.details)).toEqual([
      { changes: { allowedIps: { before: ['10.0.0.0/8'], after: ['192.0.2.7/32', '2001:db8::1/128', '198.51.100.0/24'] } } },
    ]);
    // Both fields at once, then clearing the list (no restriction) with [] and with null.
    const both = await patch(id, { name: 'both', allowedIps: [] });
    expect(both.body).toMatchObject({ name: 'both', allowedIps: [] });
    expect((await auditOf(id)).at(-1)!.details).toEqual({
      changes: {
        name: { before: 'ESM integration key', after: 'both' },
        allowedIps: { before: ['192.0.2.7/32', '2001:db8::1/128', '198.51.100.0/24'], after: [] },
      },
    });
    await patch(id, { allowedIps: ['10.0.0.1'] });
    expect((await patch(id, { allowedIps: null })).body.allowedIps).toEqual([]);
  });

  it('the same values again: 200, nothing written, no audit row', async () => {
    const id = (await h.mint(org.id, { name: 'same', allowedIps: ['10.0.0.0/8'] })).body.apiKey.id as string;
    const before = await rowOf(id);
    const r = await patch(id, { name: 'same', allowedIps: ['10.0.0.0/8'] });
    expect(r.status).toBe(200);
    expect(await rowOf(id)).toEqual(before);
    expect(await auditOf(id)).toEqual([]);
  });

  it('a REST-only key can be renamed too (connection stays null)', async () => {
    const id = (await h.mint(org.id, { scopes: ['plants:read'] })).body.apiKey.id as string;
    const r = await patch(id, { name: 'dashboards' });
    expect(r.status).toBe(200);
    expect(r.body.connection).toBeNull();
  });

  it.each([
    ['scopes are immutable', { scopes: ['vcp:connect', 'vcp:write:mode'] }],
    ['expiry is immutable', { expiresAt: new Date(Date.now() + 86_400_000).toISOString() }],
    ['partnerId is immutable', { partnerId: 'x' }],
    ['allowedPlantIds are immutable', { allowedPlantIds: [] }],
    ['isActive cannot be set', { isActive: false }],
    ['vhost cannot be set', { vhost: '/' }],
    ['an allowed field beside a forbidden one', { name: 'ok', scopes: ['vcp:connect'] }],
    ['empty body: nothing to change', {}],
    ['empty name', { name: '' }],
    ['name of 101 chars', { name: 'x'.repeat(101) }],
    ['control character in name', { name: 'a\u0000b' }],
    ['name not a string', { name: 5 }],
    ['bad CIDR', { allowedIps: ['10.0.0.0/33'] }],
    ['not an address', { allowedIps: ['example.com'] }],
    ['more than 100 entries', { allowedIps: Array.from({ length: 101 }, (_, i) => `10.0.${i}.1`) }],
    ['allowedIps not an array', { allowedIps: '10.0.0.0/8' }],
    ['a body that is not an object', [1, 2]],
  ])('400 VALIDATION_ERROR: %s; nothing changes', async (_, body) => {
    const id = (await h.mint(org.id, { name: 'fixed', allowedIps: ['10.0.0.0/8'] })).body.apiKey.id as string;
    const before = await rowOf(id);
    broker.calls.length = 0;
    expectEnvelope(await patch(id, body), 400, 'VALIDATION_ERROR');
    expect(await rowOf(id)).toEqual(before);
    expect(await auditOf(id)).toEqual([]);
    expect(broker.calls).toEqual([]);
  });

  it('no body, or not JSON: 400 VALIDATION_ERROR', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    expectEnvelope(await h.call('PATCH', `${KEYS}/${id}`, { orgId: org.id }), 400, 'VALIDATION_ERROR');
    expectEnvelope(
      await h.call('PATCH', `${KEYS}/${id}`, { orgId: org.id, rawBody: '{"name":', headers: { 'content-type': 'application/json' } }),
      400,
      'VALIDATION_ERROR',
    );
  });

  it('a revoked key: 409 CONFLICT, unchanged, no audit row', async () => {
    const id = (await h.mint(org.id, { name: 'gone' })).body.apiKey.id as string;
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    const before = await rowOf(id);
    const r = await patch(id, { name: 'revived', allowedIps: ['10.0.0.1'] });
    expectEnvelope(r, 409, 'CONFLICT');
    expect(r.body.details).toEqual({ reason: 'revoked' });
    expect(await rowOf(id)).toEqual(before);
    expect(await auditOf(id)).toEqual([]);
  });

  it("another organization's key: 404 API_KEY_NOT_FOUND (and it is untouched); unknown id: 404; not a UUID: 400 INVALID_UUID", async () => {
    const theirs = (await h.mint(other.id, { name: 'theirs' })).body.apiKey.id as string;
    expectEnvelope(await patch(theirs, { name: 'mine now' }), 404, 'API_KEY_NOT_FOUND');
    expect((await rowOf(theirs)).name).toBe('theirs');
    expectEnvelope(await patch(randomUUID(), { name: 'x' }), 404, 'API_KEY_NOT_FOUND');
    expectEnvelope(await patch('not-a-uuid', { name: 'x' }), 400, 'INVALID_UUID');
  });

  describe('security', () => {
    it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
      const id = (await h.mint(org.id)).body.apiKey.id as string;
      await expectGuarded(h, { method: 'PATCH', path: `${KEYS}/${id}`, access: 'org', body: { name: 'guarded' } }, org.id);
      expect((await rowOf(id)).name).not.toBe('guarded');
    });

    it("an ORG_ADMIN edits its own org's keys, never another's; neither answer nor audit holds a secret", async () => {
      const minted = await h.mint(org.id);
      const id = minted.body.apiKey.id as string;
      const token = await h.orgAdminToken(org.id);
      const r = await h.call('PATCH', `${KEYS}/${id}`, { token, orgId: org.id, body: { name: 'by org admin' } });
      expect(r.status).toBe(200);
      for (const secret of [minted.body.key, encodeURIComponent(minted.body.key)]) {
        expect(r.text).not.toContain(secret);
        expect(JSON.stringify(await auditOf(id))).not.toContain(secret);
      }
      const theirs = (await h.mint(other.id)).body.apiKey.id as string;
      expectEnvelope(await h.call('PATCH', `${KEYS}/${theirs}`, { token, orgId: other.id, body: { name: 'x' } }), 403, 'FORBIDDEN');
    });

    it('the answer never carries the signing key of a writer key', async () => {
      const minted = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:mode'] });
      const r = await patch(minted.body.apiKey.id, { name: 'writer' });
      expect(r.status).toBe(200);
      expect(r.text).not.toContain(minted.body.signingKey);
      expect(r.text).not.toContain(minted.body.key);
    });
  });
});

describe("an edit reaches every instance's next vhost check (NOTIFY)", () => {
  let instances: TwoInstances;
  let two: TwoInstances['two'];

  beforeAll(async () => {
    instances = await startTwoInstances();
    ({ two } = instances);
  });
  afterAll(async () => {
    await instances?.stop();
  });

  const admin: TwoInstances['admin'] = (...args) => instances.admin(...args);

  it('narrowing on instance one denies the old address on instance two; the new one is allowed', async () => {
    const org = await admin('POST', '/api/v1/admin/organizations', { slug: 'patchco', name: 'Patch Co' });
    const minted = await admin('POST', KEYS, { name: 'k', partnerId: 'p', scopes: ['vcp:connect'], allowedIps: ['10.0.0.0/8'] }, org.json.id);
    expect(minted.status).toBe(201);
    const id = minted.json.apiKey.id as string;
    const vhostCall = (ip: string) => askAuth(two.authUrl, 'vhost', { username: 'patchco', vhost: `partner-${id}`, ip, tags: `vcp-key-${id}` });
    expect((await vhostCall('10.1.2.3')).body).toBe('allow');
    expect((await vhostCall('192.0.2.5')).body).toBe('deny');

    const before = two.changesApplied();
    const r = await admin('PATCH', `${KEYS}/${id}`, { allowedIps: ['192.0.2.0/24'] }, org.json.id);
    expect(r.status).toBe(200);
    // Instance two applies the change from its NOTIFY; then its next check follows the new list.
    await expect.poll(() => two.changesApplied() > before, { timeout: 10_000 }).toBe(true);
    await expect.poll(async () => (await vhostCall('10.1.2.3')).body, { timeout: 10_000 }).toBe('deny');
    expect((await vhostCall('192.0.2.5')).body).toBe('allow');
    expect((await vhostCall('::ffff:192.0.2.200')).body).toBe('allow');
  });
});
