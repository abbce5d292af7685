// Who may call what: admin tokens, JWTs, roles and the x-org-id header (docs/architecture.md, "Admin surface").
import { randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminTokenMatcher } from '../src/http/admin/auth.js';
import { type AdminHarness, createAdminHarness, expectEnvelope } from './support/admin.js';

let h: AdminHarness;
let orgA: { id: string; slug: string };
let orgB: { id: string; slug: string };
const KEYS = '/api/v1/partner/api-keys';

beforeAll(async () => {
  h = await createAdminHarness();
  orgA = await h.createOrg();
  orgB = await h.createOrg();
});
afterAll(async () => {
  await h.close();
});

describe('bearer authentication', () => {
  it('no Authorization header, another scheme, or an unknown token: 401 with WWW-Authenticate', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { authorization: 'Bearer' }]) {
      const r = await h.call('GET', KEYS, { token: null, orgId: orgA.id, headers });
      expectEnvelope(r, 401, 'UNAUTHORIZED');
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    }
    expectEnvelope(await h.call('GET', KEYS, { token: 'not-a-token', orgId: orgA.id }), 401, 'UNAUTHORIZED');
    expectEnvelope(await h.call('GET', KEYS, { token: `${h.adminToken}x`, orgId: orgA.id }), 401, 'UNAUTHORIZED');
    expectEnvelope(await h.call('GET', KEYS, { token: h.adminToken.slice(0, -1), orgId: orgA.id }), 401, 'UNAUTHORIZED');
  });

  it('every configured admin token is a SUPER_ADMIN service principal', async () => {
    const [other] = h.config.adminTokens;
    expect((await h.call('GET', '/api/v1/admin/organizations', { token: other! })).status).toBe(200);
    expect((await h.call('GET', '/api/v1/admin/organizations')).status).toBe(200);
  });

  it('the admin-token principal has a stable id derived from the token hash, never the token', async () => {
    const first = await h.mint(orgA.id);
    const second = await h.mint(orgA.id);
    const creator = first.body.apiKey.creator;
    expect(creator).toMatchObject({ role: 'SUPER_ADMIN', email: null });
    expect(second.body.apiKey.creator.id).toBe(creator.id);
    expect(creator.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const other = await h.call('POST', KEYS, { token: h.config.adminTokens[0]!, orgId: orgA.id, body: { name: 'n', partnerId: 'p', scopes: ['vcp:connect'] } });
    expect(other.body.apiKey.creator.id).not.toBe(creator.id);
    const users = await h.db.sql`SELECT * FROM users`;
    expect(JSON.stringify(users)).not.toContain(h.adminToken);
  });

  it('the matcher compares hashes of every token and accepts only exact matches', () => {
    const match = adminTokenMatcher(['alpha', 'beta-token']);
    expect(match('beta-token')).toBeDefined();
    expect(match('alpha')).toBeDefined();
    expect(match('alph')).toBeUndefined();
    expect(match('beta-token ')).toBeUndefined();
    expect(match('')).toBeUndefined();
    expect(adminTokenMatcher([])('anything')).toBeUndefined();
  });
});

describe('JWT sessions', () => {
  it('an ORG_ADMIN may use its own organization', async () => {
    const token = await h.orgAdminToken(orgA.id);
    const r = await h.call('GET', KEYS, { token, orgId: orgA.id });
    expect(r.status).toBe(200);
  });

  it('an ORG_ADMIN of org A on org B: 403 FORBIDDEN (also for an org that does not exist)', async () => {
    const token = await h.orgAdminToken(orgA.id);
    expectEnvelope(await h.call('GET', KEYS, { token, orgId: orgB.id }), 403, 'FORBIDDEN');
    const keyOfB = (await h.mint(orgB.id)).body.apiKey.id as string;
    expectEnvelope(await h.call('POST', KEYS, { token, orgId: orgB.id, body: { name: 'n', partnerId: 'p', scopes: ['vcp:connect'] } }), 403, 'FORBIDDEN');
    expectEnvelope(await h.call('GET', `${KEYS}/${keyOfB}`, { token, orgId: orgB.id }), 403, 'FORBIDDEN');
    expectEnvelope(await h.call('DELETE', `${KEYS}/${keyOfB}`, { token, orgId: orgB.id }), 403, 'FORBIDDEN');
    expectEnvelope(await h.call('GET', '/api/v1/partner/audit-events', { token, orgId: orgB.id }), 403, 'FORBIDDEN');
    expectEnvelope(await h.call('GET', KEYS, { token, orgId: randomUUID() }), 403, 'FORBIDDEN');
  });

  it('an ORG_ADMIN whose own organization was deleted: 404 ORGANIZATION_NOT_FOUND', async () => {
    const gone = randomUUID();
    const token = await h.orgAdminToken(gone);
    expectEnvelope(await h.call('GET', KEYS, { token, orgId: gone }), 404, 'ORGANIZATION_NOT_FOUND');
  });

  it('an ORG_ADMIN cannot use super-admin routes', async () => {
    const token = await h.orgAdminToken(orgA.id);
    expectEnvelope(await h.call('GET', '/api/v1/admin/organizations', { token }), 403, 'FORBIDDEN');
    expectEnvelope(await h.call('POST', '/api/v1/admin/organizations', { token, body: { slug: 'sneaky', name: 'S' } }), 403, 'FORBIDDEN');
  });

  it('a SUPER_ADMIN JWT may use any existing organization; a missing one is 404 ORGANIZATION_NOT_FOUND', async () => {
    const token = await h.jwt({ sub: randomUUID(), email: 'root@example.test', name: 'Root', role: 'SUPER_ADMIN' });
    expect((await h.call('GET', KEYS, { token, orgId: orgB.id })).status).toBe(200);
    expectEnvelope(await h.call('GET', KEYS, { token, orgId: randomUUID() }), 404, 'ORGANIZATION_NOT_FOUND');
    expectEnvelope(await h.call('GET', KEYS, { orgId: randomUUID() }), 404, 'ORGANIZATION_NOT_FOUND');
  });

  it('any other role: 403 FORBIDDEN', async () => {
    for (const role of ['VIEWER', 'ADMIN', 'OPERATOR', 'org_admin']) {
      const token = await h.jwt({ sub: randomUUID(), role, orgId: orgA.id });
      expectEnvelope(await h.call('GET', KEYS, { token, orgId: orgA.id }), 403, 'FORBIDDEN');
      expectEnvelope(await h.call('GET', '/api/v1/admin/organizations', { token }), 403, 'FORBIDDEN');
    }
  });

  it('an expired token: 401 "Token expired"', async () => {
    const token = await h.orgAdminToken(orgA.id, { exp: Math.floor(Date.now() / 1000) - 10 });
    const r = await h.call('GET', KEYS, { token, orgId: orgA.id });
    expectEnvelope(r, 401, 'UNAUTHORIZED');
    expect(r.body.message).toBe('Token expired');
  });

  it('wrong secret, other algorithm, alg none, no exp, bad claims: 401', async () => {
    const claims = { sub: randomUUID(), role: 'ORG_ADMIN', orgId: orgA.id, exp: Math.floor(Date.now() / 1000) + 60 };
    const wrongSecret = await sign(claims, 'not-the-secret', 'HS256');
    const hs512 = await sign(claims, h.config.jwtSecret!, 'HS512');
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    const { exp: _exp, ...noExp } = claims;
    const noExpiry = await sign(noExp, h.config.jwtSecret!, 'HS256');
    const badSub = await h.jwt({ ...claims, sub: 'alice' });
    const noRole = await h.jwt({ sub: randomUUID(), orgId: orgA.id });
    const badOrg = await h.jwt({ ...claims, orgId: 'acme' });
    const nulName = await h.jwt({ ...claims, name: 'a\u0000b' });
    for (const token of [wrongSecret, hs512, none, noExpiry, badSub, noRole, badOrg, nulName, 'a.b.c']) {
      expectEnvelope(await h.call('GET', KEYS, { token, orgId: orgA.id }), 401, 'UNAUTHORIZED');
    }
  });

  it('error messages and logs never carry the token', async () => {
    const token = await h.orgAdminToken(orgA.id, { exp: Math.floor(Date.now() / 1000) - 10 });
    const r = await h.call('GET', KEYS, { token, orgId: orgA.id });
    expect(r.text).not.toContain(token);
    expect(h.logs.join('')).not.toContain(token);
    expect(h.logs.join('')).not.toContain(h.adminToken);
  });

  it('the creator of a key is upserted from the JWT claims', async () => {
    const sub = randomUUID();
    const token = await h.orgAdminToken(orgA.id, { sub, email: 'ann@example.test', name: 'Ann' });
    const r = await h.call('POST', KEYS, { token, orgId: orgA.id, body: { name: 'n', partnerId: 'p', scopes: ['vcp:connect'] } });
    expect(r.status).toBe(201);
    expect(r.body.apiKey.createdBy).toBe(sub);
    expect(r.body.apiKey.creator).toMatchObject({ id: sub, email: 'ann@example.test', name: 'Ann', role: 'ORG_ADMIN' });
    const renamed = await h.orgAdminToken(orgA.id, { sub, email: 'ann@example.test', name: 'Ann B.' });
    const r2 = await h.call('POST', KEYS, { token: renamed, orgId: orgA.id, body: { name: 'n', partnerId: 'p', scopes: ['vcp:connect'] } });
    expect(r2.body.apiKey.creator.name).toBe('Ann B.');
    const [user] = await h.db.sql`SELECT name, role, organization_id FROM users WHERE id = ${sub}`;
    expect(user).toEqual({ name: 'Ann B.', role: 'ORG_ADMIN', organizationId: orgA.id });
  });
});

describe('x-org-id', () => {
  it('missing or not a UUID: 400 VALIDATION_ERROR', async () => {
    const missing = await h.call('GET', KEYS);
    expectEnvelope(missing, 400, 'VALIDATION_ERROR');
    expect(missing.body.details.issues[0].path).toBe('header.x-org-id');
    expectEnvelope(await h.call('GET', KEYS, { orgId: 'acme' }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await h.call('GET', KEYS, { orgId: `${orgA.id}0` }), 400, 'VALIDATION_ERROR');
  });

  it('is matched case-insensitively', async () => {
    const token = await h.orgAdminToken(orgA.id);
    expect((await h.call('GET', KEYS, { token, orgId: orgA.id.toUpperCase() })).status).toBe(200);
  });
});
