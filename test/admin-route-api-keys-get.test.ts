// GET /api/v1/partner/api-keys/:id: one key, never its secret.
// Happy, error and security cases of this one route (moved here from the per-topic files).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';

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

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
    await expectGuarded(h, { method: 'GET', path: `${KEYS}/${(await h.mint(org.id)).body.apiKey.id}`, access: 'org' }, org.id);
  });
});
