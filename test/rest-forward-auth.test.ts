// Forward auth at /auth/rest on the auth listener, against a real service and PostgreSQL, over
// real TCP from chosen loopback addresses (127.0.0.x) so that the peer address is what is tested.
// The gateways themselves (nginx, Caddy) are in rest-gateways.test.ts.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, metricSum, startTestService, TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
/** The only address whose forwarding headers the service believes. */
const PROXY = '127.0.0.9';
const PLANT_A = randomUUID();
const PLANT_B = randomUUID();

let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let orgId: string;
type Seeded = Awaited<ReturnType<typeof seedKey>>;
let full: Seeded;
let revoked: Seeded;
let expired: Seeded;
let fenced: Seeded;
let onePlant: Seeded;
let legacy: Seeded;

beforeAll(async () => {
  db = await createTestDatabase();
  orgId = await seedOrg(db.sql, 'acme');
  full = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read', 'telemetry:read'], partnerId: 'Partner Ü/1', vhost: null });
  revoked = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'], isActive: false });
  expired = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'], expiresAt: new Date(Date.now() - 60_000) });
  fenced = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'], allowedIps: ['127.0.0.5/32'] });
  onePlant = await seedKey(db.sql, pepper, { orgId, scopes: ['plants:read'], allowedPlantIds: [PLANT_A] });
  // A broker key of before per-family write scopes: the broker expands it, REST must not.
  legacy = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:connect'], legacyScopeExpansion: true });
  service = await startTestService(db.url, { admin: false, usageFlushMs: 3_600_000, missAnswerDeadlineMs: 10_000, env: { TRUSTED_PROXIES: `${PROXY}/32` } });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the auth listener from `from` (a loopback address), as a gateway would send it. */
function ask(headers: Record<string, string>, o: { from?: string; path?: string; method?: string; body?: string } = {}): Promise<Answer> {
  const url = new URL(o.path ?? '/auth/rest', service.authUrl);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'GET', headers, localAddress: o.from ?? '127.0.0.1', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const identity = (a: Answer) => ({
  keyId: a.headers['x-voke-key-id'],
  organizationId: a.headers['x-voke-organization-id'],
  partnerId: a.headers['x-voke-partner-id'],
  scopes: a.headers['x-voke-scopes'],
  plants: a.headers['x-voke-allowed-plant-ids'],
});

describe('allow', () => {
  it('200 with the identity headers, no body; nothing sent back contains the key', async () => {
    const a = await ask({ 'x-api-key': full.key, 'x-voke-required-scopes': 'telemetry:read' });
    expect(a.status).toBe(200);
    expect(identity(a)).toEqual({
      keyId: full.id,
      organizationId: orgId,
      partnerId: encodeURIComponent('Partner Ü/1'),
      scopes: 'vcp:read,telemetry:read',
      plants: '*',
    });
    expect(decodeURIComponent(a.headers['x-voke-partner-id'] as string)).toBe('Partner Ü/1');
    expect(a.body).toBe('');
    expect(JSON.stringify(a.headers)).not.toContain(full.key);
  });

  it('any method, a body or none, HEAD without a body', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      expect((await ask({ 'x-api-key': full.key, 'content-type': 'application/json' }, { method, body: '{"x":1}' })).status).toBe(200);
    }
    const head = await ask({ 'x-api-key': 'nope' }, { method: 'HEAD' });
    expect(head.status).toBe(401);
    expect(head.body).toBe('');
  });

  it('the header names in any case, the key with surrounding blanks; a query string is ignored', async () => {
    const a = await ask({ 'X-Api-KEY': `  ${full.key} ` }, { path: '/auth/rest?x=1' });
    expect(a.status).toBe(200);
  });

  it("/auth/rest/<the client's path>, as Envoy's ext_authz asks: the same check", async () => {
    expect((await ask({ 'x-api-key': full.key }, { path: '/auth/rest/v1/plants/x?y=1' })).status).toBe(200);
    expect((await ask({}, { path: '/auth/rest/v1/things' })).status).toBe(401);
  });
});

describe('401: no usable key, one answer for all', () => {
  it('no key, unknown, malformed, revoked, expired: 401 with a JSON body that does not tell them apart', async () => {
    const none = await ask({});
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toEqual({ code: 'UNAUTHORIZED', message: 'Missing X-API-Key header' });
    expect(none.headers['content-type']).toBe('application/json');
    expect(none.headers['www-authenticate']).toBe('ApiKey header="X-API-Key"');

    const bodies = new Set<string>();
    const badChecksum = `${full.key.slice(0, -1)}${full.key.endsWith('A') ? 'B' : 'A'}`;
    for (const key of [generateApiKey(), 'some-legacy-looking-key', badChecksum, revoked.key, expired.key, 'x'.repeat(600)]) {
      const a = await ask({ 'x-api-key': key });
      expect(a.status, key.slice(0, 12)).toBe(401);
      expect(a.headers['x-voke-error-code']).toBe('UNAUTHORIZED');
      expect(a.headers['x-voke-key-id']).toBeUndefined();
      expect(a.body).not.toContain(key);
      bodies.add(a.body);
    }
    expect([...bodies]).toEqual([JSON.stringify({ code: 'UNAUTHORIZED', message: 'A valid API key is required in the X-API-Key header' })]);
  });

  it('revocation by SQL reaches REST at once (the same table as the broker)', async () => {
    const k = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read', 'vcp:connect'] });
    await expect.poll(() => service.table.byId(k.id)).toBeDefined();
    expect((await ask({ 'x-api-key': k.key })).status).toBe(200);
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
    await expect.poll(async () => (await ask({ 'x-api-key': k.key })).status, { timeout: 5_000 }).toBe(401);
    // ... and the broker says the same
    expect((await askAuth(service.authUrl, 'user', { username: 'acme', password: k.key })).body).toBe('deny');
  });
});

describe('403: a usable key, not for this request', () => {
  it('the address: the peer when it is not a trusted proxy, whatever it forwards', async () => {
    expect((await ask({ 'x-api-key': fenced.key }, { from: '127.0.0.5' })).status).toBe(200);
    const outside = await ask({ 'x-api-key': fenced.key }, { from: '127.0.0.6' });
    expect(outside.status).toBe(403);
    expect(JSON.parse(outside.body).code).toBe('IP_NOT_ALLOWED');
    // A client is not a proxy: its forwarding headers are ignored.
    expect((await ask({ 'x-api-key': fenced.key, 'x-forwarded-for': '127.0.0.5' }, { from: '127.0.0.6' })).status).toBe(403);
    expect((await ask({ 'x-api-key': fenced.key, 'x-real-ip': '127.0.0.5' }, { from: '127.0.0.6' })).status).toBe(403);
  });

  it('behind a trusted proxy: the right-most forwarded address that is not a trusted proxy', async () => {
    const via = (headers: Record<string, string>) => ask({ 'x-api-key': fenced.key, ...headers }, { from: PROXY });
    expect((await via({ 'x-forwarded-for': '127.0.0.5' })).status).toBe(200);
    // The client wrote the left part; the proxy appended the address it saw.
    expect((await via({ 'x-forwarded-for': '127.0.0.5, 127.0.0.6' })).status).toBe(403);
    expect((await via({ 'x-forwarded-for': `127.0.0.6, 127.0.0.5, ${PROXY}` })).status).toBe(200);
    expect((await via({ 'x-real-ip': '127.0.0.5' })).status).toBe(200);
    expect((await via({ 'x-forwarded-for': '127.0.0.6', 'x-real-ip': '127.0.0.5' })).status).toBe(403);
    // Not an address: no address, and an allowlisted key is refused.
    expect((await via({ 'x-forwarded-for': 'unknown' })).status).toBe(403);
    // The proxy's own request (no forwarding headers): the proxy is the client.
    expect((await via({})).status).toBe(403);
  });

  it('scopes: all required ones, among the scopes as stored (no legacy expansion on REST)', async () => {
    expect((await ask({ 'x-api-key': full.key, 'x-voke-required-scopes': 'vcp:read, telemetry:read' })).status).toBe(200);
    const missing = await ask({ 'x-api-key': full.key, 'x-voke-required-scopes': 'telemetry:read,plants:write' });
    expect(missing.status).toBe(403);
    expect(JSON.parse(missing.body)).toEqual({ code: 'INSUFFICIENT_SCOPE', message: 'This API key lacks a scope this request requires' });
    expect((await ask({ 'x-api-key': legacy.key, 'x-voke-required-scopes': 'vcp:write:setpoint' })).status).toBe(403);
    const legacyAllowed = await ask({ 'x-api-key': legacy.key });
    expect(legacyAllowed.headers['x-voke-scopes']).toBe('vcp:connect');
  });

  it('plant: checked against allowedPlantIds (none: every plant)', async () => {
    const a = await ask({ 'x-api-key': onePlant.key, 'x-voke-plant-id': PLANT_A.toUpperCase() });
    expect(a.status).toBe(200);
    expect(a.headers['x-voke-allowed-plant-ids']).toBe(PLANT_A);
    const b = await ask({ 'x-api-key': onePlant.key, 'x-voke-plant-id': PLANT_B });
    expect(b.status).toBe(403);
    expect(JSON.parse(b.body).code).toBe('PLANT_NOT_ALLOWED');
    expect((await ask({ 'x-api-key': onePlant.key })).status).toBe(200);
    expect((await ask({ 'x-api-key': full.key, 'x-voke-plant-id': PLANT_B })).status).toBe(200);
  });
});

describe('other paths', () => {
  it('a path the listener does not serve is 404 (never a 2xx); the broker paths keep 200 deny for bad input', async () => {
    for (const path of ['/auth/unknown', '/auth/restx', '/auth/', '/auth', '/nope']) {
      for (const method of ['GET', 'POST']) {
        const a = await ask({ 'x-api-key': full.key }, { path, method });
        expect(a.status, `${method} ${path}`).toBe(404);
      }
    }
    const deny = await ask({ 'content-type': 'application/x-www-form-urlencoded' }, { path: '/auth/user', method: 'POST', body: '%zz=&&' });
    expect([deny.status, deny.body]).toEqual([200, 'deny']);
    expect((await ask({}, { path: '/auth/topic', method: 'PUT' })).body).toBe('deny');
  });
});

describe('what is recorded', () => {
  it('lastUsedAt moves on an allow', async () => {
    const k = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'] });
    await expect.poll(() => service.table.byId(k.id)).toBeDefined();
    const before = Date.now();
    expect((await ask({ 'x-api-key': k.key })).status).toBe(200);
    await service.usage.flush();
    const [row] = await db.sql<{ lastUsedAt: Date | null }[]>`SELECT last_used_at FROM api_keys WHERE id = ${k.id}`;
    expect(row!.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('refusals: counted by reason, audited as partner.request_refused, one row per key and reason in a window', async () => {
    const k = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'] });
    await expect.poll(() => service.table.byId(k.id)).toBeDefined();
    const before = await metricSum(service, 'voke_auth_rest_decisions_total', { source: 'forward', result: 'insufficient_scope' });
    for (let i = 0; i < 30; i++) expect((await ask({ 'x-api-key': k.key, 'x-voke-required-scopes': 'config:write' })).status).toBe(403);
    for (let i = 0; i < 5; i++) expect((await ask({ 'x-api-key': `unknown-key-${i}` })).status).toBe(401);
    expect(await metricSum(service, 'voke_auth_rest_decisions_total', { source: 'forward', result: 'insufficient_scope' })).toBe(before + 30);
    await service.usage.flush();
    const rows = await db.sql<{ organizationId: string; details: { reason: string; count: number } }[]>`
      SELECT organization_id, details FROM audit_events WHERE type = 'partner.request_refused' AND api_key_id = ${k.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.organizationId).toBe(orgId);
    expect(rows[0]!.details).toMatchObject({ reason: 'insufficient_scope', count: 30 });
    const unknown = await db.sql<{ count: string }[]>`
      SELECT sum((details->>'count')::int) AS count FROM audit_events
      WHERE type = 'partner.request_refused' AND api_key_id IS NULL AND details->>'reason' = 'unknown_key'`;
    expect(Number(unknown[0]!.count)).toBeGreaterThanOrEqual(5);
    // The broker's refusals stay their own event type.
    const mixed = await db.sql`SELECT 1 FROM audit_events WHERE type = 'partner.connection_refused' AND api_key_id = ${k.id}`;
    expect(mixed).toHaveLength(0);
  });

  it('the plaintext key is in no log line', () => {
    const logs = service.logLines.join('\n');
    for (const k of [full, revoked, expired, fenced, onePlant, legacy]) expect(logs).not.toContain(k.key);
  });
});
