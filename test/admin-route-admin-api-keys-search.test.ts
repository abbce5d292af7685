// GET /api/v1/admin/api-keys: keys across organizations (super-admin), filtered and paged.
// Happy, error and security cases of this one route.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey, pageOf } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';

let h: AdminHarness;
const SEARCH = '/api/v1/admin/api-keys';
let north: { id: string; slug: string };
let south: { id: string; slug: string };
const minted: { id: string; keyPrefix: string; organizationId: string; partnerId: string }[] = [];

beforeAll(async () => {
  h = await createAdminHarness();
  north = await h.createOrg();
  south = await h.createOrg();
  for (const [org, partnerId] of [
    [north, 'p-north'],
    [north, 'p-shared'],
    [south, 'p-south'],
    [south, 'p-shared'],
  ] as const) {
    const r = await h.mint(org.id, { partnerId });
    if (r.status !== 201) throw new Error(r.text);
    minted.push(r.body.apiKey);
  }
  // the second north key is revoked
  expect((await h.call('DELETE', `/api/v1/partner/api-keys/${minted[1]!.id}`, { orgId: north.id })).status).toBe(200);
});
afterAll(async () => {
  await h.close();
});

const search = async (query = '') => {
  const r = await h.call('GET', `${SEARCH}${query}`);
  expect(r.status, r.text).toBe(200);
  return pageOf(ApiKey).parse(r.body);
};
const ids = (page: { data: { id: string }[] }) => page.data.map((k) => k.id).sort();
const sorted = (list: string[]) => [...list].sort();

describe('GET /api/v1/admin/api-keys', () => {
  it('lists the keys of every organization, newest first, with page meta', async () => {
    const all = await search();
    expect(ids(all)).toEqual(sorted(minted.map((k) => k.id)));
    expect(all.meta).toEqual({ limit: 20, page: 1, total: 4, totalPages: 1 });
    for (let i = 1; i < all.data.length; i++) expect(all.data[i - 1]!.createdAt >= all.data[i]!.createdAt).toBe(true);
    const page2 = await search('?limit=3&page=2');
    expect(page2.meta).toEqual({ limit: 3, page: 2, total: 4, totalPages: 2 });
    expect(page2.data).toHaveLength(1);
    expect(page2.data[0]!.id).toBe(all.data[3]!.id);
    const past = await search('?limit=3&page=9');
    expect(past).toEqual({ data: [], meta: { limit: 3, page: 9, total: 4, totalPages: 2 } });
  });

  it('filters by organizationId, partnerId, isActive, id and prefix, combined', async () => {
    expect(ids(await search(`?organizationId=${south.id}`))).toEqual(sorted([minted[2]!.id, minted[3]!.id]));
    expect(ids(await search('?partnerId=p-shared'))).toEqual(sorted([minted[1]!.id, minted[3]!.id]));
    expect(ids(await search(`?partnerId=p-shared&organizationId=${north.id}`))).toEqual([minted[1]!.id]);
    expect(ids(await search('?isActive=false'))).toEqual([minted[1]!.id]);
    expect(ids(await search('?isActive=true'))).toEqual(sorted([minted[0]!.id, minted[2]!.id, minted[3]!.id]));
    expect(ids(await search(`?id=${minted[2]!.id.toUpperCase()}`))).toEqual([minted[2]!.id]);
    expect(ids(await search(`?id=${randomUUID()}`))).toEqual([]);
    const byPrefix = await search(`?prefix=${minted[0]!.keyPrefix}`);
    expect(byPrefix.data.map((k) => k.id)).toContain(minted[0]!.id);
    for (const k of byPrefix.data) expect(k.keyPrefix.startsWith(minted[0]!.keyPrefix)).toBe(true);
    expect((await search('?prefix=voke_')).meta.total).toBe(4);
  });

  it('a prefix is matched literally (_ is no wildcard; % is not a prefix character at all)', async () => {
    expect((await search('?prefix=voke')).meta.total).toBe(4);
    expect((await search('?prefix=vok_')).data).toEqual([]);
    expectEnvelope(await h.call('GET', `${SEARCH}?prefix=v%25`), 400, 'VALIDATION_ERROR');
  });
});

describe('errors', () => {
  it('rejects bad filters and paging with 400 VALIDATION_ERROR, never quoting the value', async () => {
    const wholeKey = `voke_${'A'.repeat(46)}`;
    for (const q of [
      'id=123',
      'organizationId=nope',
      'isActive=yes',
      'isActive=',
      `prefix=${wholeKey}`,
      'prefix=',
      'prefix=a%20b',
      'limit=0',
      'limit=101',
      'page=0',
      'foo=1',
    ]) {
      const r = await h.call('GET', `${SEARCH}?${q}`);
      expectEnvelope(r, 400, 'VALIDATION_ERROR');
      expect(r.text).not.toContain(wholeKey);
    }
  });
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for an ORG_ADMIN or another role', async () => {
    await expectGuarded(h, { method: 'GET', path: SEARCH, access: 'super-admin' }, north.id);
  });

  it('never carries a key hash, a signing key or a key', async () => {
    const r = await h.call('GET', SEARCH);
    expect(r.text).not.toMatch(/key_?hash|signing|[0-9a-f]{64}|voke_[A-Za-z0-9]{46}/i);
  });
});
