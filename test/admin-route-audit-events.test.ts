// GET /api/v1/partner/audit-events: the organization's audit log.
// Happy, error and security cases of this one route.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEvent, pageOf } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';

let h: AdminHarness;
let org: { id: string; slug: string };
let other: { id: string; slug: string };
let keyA: string;
let keyB: string;
const KEYS = '/api/v1/partner/api-keys';
const EVENTS = '/api/v1/partner/audit-events';

beforeAll(async () => {
  h = await createAdminHarness();
  org = await h.createOrg();
  other = await h.createOrg();
  const a = await h.call('POST', KEYS, { orgId: org.id, headers: { 'user-agent': 'wizard/2' }, body: { name: 'A', partnerId: 'p', scopes: ['vcp:connect'] } });
  keyA = a.body.apiKey.id;
  const b = await h.mint(org.id);
  keyB = b.body.apiKey.id;
  await h.call('POST', `${KEYS}/${keyA}/acknowledge`, { orgId: org.id });
  await h.call('POST', `${KEYS}/${keyA}/test-connection`, { orgId: org.id, body: { key: a.body.key } });
  await h.call('DELETE', `${KEYS}/${keyA}`, { orgId: org.id });
  await h.call('DELETE', `${KEYS}/${keyB}`, { orgId: org.id });
  await h.mint(other.id);
  // What the hot path writes (src/store/usage.ts) is listed too.
  await h.db.sql`INSERT INTO audit_events (type, organization_id, api_key_id, details, aggregate_key)
    VALUES ('partner.connection_refused', ${org.id}, ${keyB}, ${h.db.sql.json({ reason: 'bad_key', count: 7 })}, ${`refused:${org.id}:${keyB}:bad_key:w`})`;
});
afterAll(async () => {
  await h.close();
});

const list = async (query = '', orgId = org.id) => {
  const r = await h.call('GET', `${EVENTS}${query}`, { orgId });
  expect(r.status).toBe(200);
  return pageOf(AuditEvent).parse(r.body);
};

describe('audit events', () => {
  it("lists the organization's events newest first in the documented shape", async () => {
    const page = await list();
    expect(page.meta).toEqual({ limit: 20, page: 1, total: 7, totalPages: 1 });
    expect(page.data.map((e) => e.type)).toEqual([
      'partner.connection_refused',
      'api_key.revoked',
      'api_key.revoked',
      'api_key.test_connection',
      'api_key.bundle_acknowledged',
      'api_key.created',
      'api_key.created',
    ]);
    const times = page.data.map((e) => e.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
    const created = page.data.find((e) => e.type === 'api_key.created' && e.apiKeyId === keyA)!;
    expect(Object.keys(created).sort()).toEqual(['actorId', 'apiKeyId', 'createdAt', 'details', 'id', 'ip', 'organizationId', 'type', 'userAgent']);
    expect(created).toMatchObject({ organizationId: org.id, userAgent: 'wizard/2', ip: null });
    expect(created.actorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.details).toMatchObject({ name: 'A', scopes: ['vcp:connect'], signingKey: false });
    expect(page.data[0]!.details).toEqual({ reason: 'bad_key', count: 7 });
  });

  it('filters by type', async () => {
    const revoked = await list('?type=api_key.revoked');
    expect(revoked.meta.total).toBe(2);
    expect(revoked.data.every((e) => e.type === 'api_key.revoked')).toBe(true);
    expect((await list('?type=partner.connected')).data).toEqual([]);
  });

  it('filters by apiKeyId, and by both', async () => {
    const ofA = await list(`?apiKeyId=${keyA}`);
    expect(ofA.data.map((e) => e.type).sort()).toEqual(['api_key.bundle_acknowledged', 'api_key.created', 'api_key.revoked', 'api_key.test_connection']);
    const both = await list(`?apiKeyId=${keyB}&type=api_key.revoked`);
    expect(both.data).toHaveLength(1);
    expect(both.data[0]!.apiKeyId).toBe(keyB);
    expect((await list(`?apiKeyId=${keyA.toUpperCase()}`)).meta.total).toBe(4);
    expect((await list(`?apiKeyId=${randomUUID()}`)).meta.total).toBe(0);
  });

  it("never shows another organization's events", async () => {
    expect((await list(`?apiKeyId=${keyA}`, other.id)).data).toEqual([]);
    const theirs = await list('', other.id);
    expect(theirs.meta.total).toBe(1);
    expect(theirs.data[0]!.organizationId).toBe(other.id);
  });

  it('pages with the same meta as keys', async () => {
    const p2 = await list('?limit=3&page=2');
    expect(p2.meta).toEqual({ limit: 3, page: 2, total: 7, totalPages: 3 });
    expect(p2.data).toHaveLength(3);
    expect((await list('?limit=3&page=3')).data).toHaveLength(1);
  });

  it('bad filters and paging: 400 VALIDATION_ERROR', async () => {
    for (const q of ['type=api_key.deleted', 'apiKeyId=nope', 'limit=0', 'limit=101', 'page=0', 'orgId=x']) {
      expectEnvelope(await h.call('GET', `${EVENTS}?${q}`, { orgId: org.id }), 400, 'VALIDATION_ERROR');
    }
  });

  it('requires org access', async () => {
    expectEnvelope(await h.call('GET', EVENTS, { token: null, orgId: org.id }), 401, 'UNAUTHORIZED');
    expectEnvelope(await h.call('GET', EVENTS, { token: await h.orgAdminToken(other.id), orgId: org.id }), 403, 'FORBIDDEN');
    expectEnvelope(await h.call('GET', EVENTS), 400, 'VALIDATION_ERROR');
  });
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
    await expectGuarded(h, { method: 'GET', path: EVENTS, access: 'org' }, org.id);
  });
});
