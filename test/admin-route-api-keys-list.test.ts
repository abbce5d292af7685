// GET /api/v1/partner/api-keys: paging (totals and page counts at 0, 1, 20, 21 and 101 keys).
// Happy, error and security cases of this one route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey, pageOf } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';

let h: AdminHarness;
const KEYS = '/api/v1/partner/api-keys';
const orgs = new Map<number, string>();

beforeAll(async () => {
  h = await createAdminHarness();
  for (const n of [0, 1, 20, 21, 101]) {
    const { id } = await h.createOrg();
    orgs.set(n, id);
    for (let i = 0; i < n; i++) {
      const r = await h.mint(id, { name: `key ${i}` });
      if (r.status !== 201) throw new Error(r.text);
    }
  }
}, 120_000);
afterAll(async () => {
  await h.close();
});

const list = async (orgId: string, query = '') => {
  const r = await h.call('GET', `${KEYS}${query}`, { orgId });
  expect(r.status).toBe(200);
  return pageOf(ApiKey).parse(r.body);
};

describe('pagination', () => {
  it.each([
    [0, 0],
    [1, 1],
    [20, 1],
    [21, 2],
    [101, 6],
  ])('%i keys with the default limit: %i pages', async (n, pages) => {
    const first = await list(orgs.get(n)!);
    expect(first.meta).toEqual({ limit: 20, page: 1, total: n, totalPages: pages });
    expect(first.data).toHaveLength(Math.min(n, 20));
  });

  it('walks every page of 101 keys: newest first, no duplicates, last page partial', async () => {
    const orgId = orgs.get(101)!;
    const seen: string[] = [];
    for (let page = 1; page <= 6; page++) {
      const p = await list(orgId, `?page=${page}`);
      expect(p.meta).toEqual({ limit: 20, page, total: 101, totalPages: 6 });
      expect(p.data).toHaveLength(page < 6 ? 20 : 1);
      seen.push(...p.data.map((k) => k.id));
    }
    expect(new Set(seen).size).toBe(101);
    const names = (await list(orgId, '?limit=3')).data.map((k) => k.name);
    expect(names).toEqual(['key 100', 'key 99', 'key 98']);
    expect((await list(orgId, '?page=7')).data).toEqual([]);
  });

  it('limit 100 and 1 are the bounds', async () => {
    const orgId = orgs.get(101)!;
    const big = await list(orgId, '?limit=100&page=2');
    expect(big.meta).toEqual({ limit: 100, page: 2, total: 101, totalPages: 2 });
    expect(big.data).toHaveLength(1);
    const one = await list(orgId, '?limit=1');
    expect(one.meta.totalPages).toBe(101);
  });

  it('21 keys: page 2 holds the oldest one', async () => {
    const p = await list(orgs.get(21)!, '?page=2');
    expect(p.data.map((k) => k.name)).toEqual(['key 0']);
  });

  it.each(['limit=0', 'limit=101', 'page=0', 'page=-1', 'page=1.5', 'limit=abc', 'page=', 'limit=1e1', 'unknown=1'])(
    '?%s is 400 VALIDATION_ERROR',
    async (q) => {
      const r = await h.call('GET', `${KEYS}?${q}`, { orgId: orgs.get(1)! });
      expectEnvelope(r, 400, 'VALIDATION_ERROR');
      expect(r.body.details.issues[0].path).toMatch(/^query/);
    },
  );
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for a role that may not call it', async () => {
    const org = await h.createOrg();
    await expectGuarded(h, { method: 'GET', path: KEYS, access: 'org' }, org.id);
  });
});
