// GET /api/v1/admin/organizations: list organizations (super-admin).
// Happy, error and security cases of this one route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Organization, pageOf } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';

let h: AdminHarness;
const ORGS = '/api/v1/admin/organizations';
beforeAll(async () => {
  h = await createAdminHarness();
});
afterAll(async () => {
  await h.close();
});

describe('GET /api/v1/admin/organizations', () => {
  it('lists organizations newest first with page meta', async () => {
    // Standalone now (the create tests made these before the split): three organizations.
    for (let i = 0; i < 3; i++) await h.createOrg();
    const r = await h.call('GET', `${ORGS}?limit=2`);
    expect(r.status).toBe(200);
    const parsed = pageOf(Organization).parse(r.body);
    const [row] = await h.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM organizations`;
    const n = row!.n;
    expect(parsed.meta).toEqual({ limit: 2, page: 1, total: n, totalPages: Math.ceil(n / 2) });
    expect(parsed.data).toHaveLength(2);
    expect(parsed.data[0]!.createdAt >= parsed.data[1]!.createdAt).toBe(true);
  });

  it('rejects bad paging: 400', async () => {
    for (const q of ['limit=0', 'limit=101', 'page=0', 'page=x', 'foo=1']) {
      expectEnvelope(await h.call('GET', `${ORGS}?${q}`), 400, 'VALIDATION_ERROR');
    }
  });
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for a role that may not call it', async () => {
    const org = await h.createOrg();
    await expectGuarded(h, { method: 'GET', path: '/api/v1/admin/organizations', access: 'super-admin' }, org.id);
  });
});
