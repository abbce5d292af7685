// POST /api/v1/keys/verify on a running service (its key table is the one the verify API reads),
// with a real PostgreSQL.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { metricSum, startTestService, TEST_ADMIN_TOKEN, TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
const VERIFY_TOKEN = 'test-verify-token-abcdefghijkl';
const PLANT = randomUUID();

let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let orgId: string;
type Seeded = Awaited<ReturnType<typeof seedKey>>;
let key: Seeded;
let fenced: Seeded;
const expiresAt = new Date(Date.now() + 86_400_000);

beforeAll(async () => {
  db = await createTestDatabase();
  orgId = await seedOrg(db.sql, 'acme');
  key = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read', 'plants:read'], partnerId: 'partner-7', allowedPlantIds: [PLANT], expiresAt });
  fenced = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'], allowedIps: ['192.0.2.0/24'] });
  service = await startTestService(db.url, { usageFlushMs: 3_600_000, missAnswerDeadlineMs: 10_000, env: { VERIFY_TOKENS: `other-token,${VERIFY_TOKEN}` } });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

async function call(body: unknown, token: string | null = VERIFY_TOKEN, path = '/api/v1/keys/verify', method = 'POST') {
  const res = await fetch(service.adminUrl + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

describe('who may call', () => {
  it('a VERIFY_TOKENS token or an ADMIN_TOKENS token; nothing else', async () => {
    expect((await call({ key: key.key })).status).toBe(200);
    expect((await call({ key: key.key }, TEST_ADMIN_TOKEN)).status).toBe(200);
    for (const token of [null, 'wrong-token', `${VERIFY_TOKEN}x`]) {
      const r = await call({ key: key.key }, token);
      expect(r.status).toBe(401);
      expect(r.json.code).toBe('UNAUTHORIZED');
    }
  });

  it('a verify token opens no other route', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/admin/organizations'],
      ['GET', '/api/v1/admin/api-keys'],
      ['POST', '/api/v1/admin/api-keys/revoke-leaked'],
    ] as const) {
      const r = await call(method === 'POST' ? { keys: [key.key] } : undefined, VERIFY_TOKEN, path, method);
      expect(r.status, `${method} ${path}`).toBe(401);
    }
    const [row] = await db.sql<{ isActive: boolean }[]>`SELECT is_active FROM api_keys WHERE id = ${key.id}`;
    expect(row!.isActive).toBe(true);
  });
});

describe('answers', () => {
  it('valid: the identity, the scopes as stored, the plants, the expiry; never the key', async () => {
    const r = await call({ key: key.key, scopes: ['plants:read'], plantId: PLANT, ip: '203.0.113.5' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      valid: true,
      keyId: key.id,
      organizationId: orgId,
      partnerId: 'partner-7',
      scopes: ['vcp:read', 'plants:read'],
      allowedPlantIds: [PLANT],
      expiresAt: expiresAt.toISOString(),
    });
    expect(r.text).not.toContain(key.key);
  });

  it.each([
    ['NOT_FOUND', () => ({ key: generateApiKey() })],
    ['NOT_FOUND', () => ({ key: 'not-a-key-of-ours' })],
    ['INSUFFICIENT_SCOPE', () => ({ key: key.key, scopes: ['plants:read', 'plants:write'] })],
    ['PLANT_NOT_ALLOWED', () => ({ key: key.key, plantId: randomUUID() })],
    ['IP_NOT_ALLOWED', () => ({ key: fenced.key, ip: '203.0.113.5' })],
    // An allowlisted key with no address given: refused (the allowlist cannot be checked).
    ['IP_NOT_ALLOWED', () => ({ key: fenced.key })],
  ])('valid:false %s', async (code, body) => {
    const r = await call(body());
    expect([r.status, r.json]).toEqual([200, { valid: false, code }]);
  });

  it('an allowlisted key from inside its allowlist is valid', async () => {
    expect((await call({ key: fenced.key, ip: '192.0.2.77' })).json.valid).toBe(true);
  });

  it('REVOKED and EXPIRED, by SQL, at once', async () => {
    const k = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'] });
    await expect.poll(() => service.table.byId(k.id)).toBeDefined();
    expect((await call({ key: k.key })).json.valid).toBe(true);
    await db.sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${k.id}`;
    await expect.poll(async () => (await call({ key: k.key })).json, { timeout: 5_000 }).toEqual({ valid: false, code: 'EXPIRED' });
    await db.sql`UPDATE api_keys SET is_active = false, expires_at = NULL WHERE id = ${k.id}`;
    await expect.poll(async () => (await call({ key: k.key })).json, { timeout: 5_000 }).toEqual({ valid: false, code: 'REVOKED' });
  });

  it('counts and records like forward auth: lastUsedAt, partner.request_refused, the metric', async () => {
    const refusals = () => db.sql<{ details: { reason: string; count: number } }[]>`
      SELECT details FROM audit_events WHERE type = 'partner.request_refused' AND api_key_id = ${key.id} AND details->>'reason' = 'plant_not_allowed'`;
    await service.usage.flush(); // what earlier tests refused
    const counted = (await refusals()).reduce((n, r) => n + r.details.count, 0);
    const before = await metricSum(service, 'voke_auth_rest_decisions_total', { source: 'verify', result: 'plant_not_allowed' });
    for (let i = 0; i < 4; i++) await call({ key: key.key, plantId: randomUUID() });
    expect(await metricSum(service, 'voke_auth_rest_decisions_total', { source: 'verify', result: 'plant_not_allowed' })).toBe(before + 4);
    await service.usage.flush();
    const rows = await refusals();
    // One row per key, reason and window (a window boundary between the flushes makes two).
    expect(rows.length).toBeLessThanOrEqual(2);
    expect(rows.reduce((n, r) => n + r.details.count, 0)).toBe(counted + 4);
    const [used] = await db.sql<{ lastUsedAt: Date | null }[]>`SELECT last_used_at FROM api_keys WHERE id = ${key.id}`;
    expect(used!.lastUsedAt).toBeInstanceOf(Date);
  });
});

describe('malformed requests: 400 envelope', () => {
  it.each([
    ['no key', {}],
    ['empty key', { key: '' }],
    ['unknown field', { key: 'k', extra: 1 }],
    ['a CIDR as ip', { key: 'k', ip: '10.0.0.0/8' }],
    ['not an address', { key: 'k', ip: 'localhost' }],
    ['an unknown scope', { key: 'k', scopes: ['root'] }],
    ['scopes not a list', { key: 'k', scopes: 'vcp:read' }],
    ['plantId not a UUID', { key: 'k', plantId: 'plant-1' }],
    ['a key over 512 bytes', { key: 'k'.repeat(513) }],
  ])('%s', async (_, body) => {
    const r = await call(body);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'VALIDATION_ERROR', statusCode: 400 });
    expect(r.text).not.toContain('k'.repeat(100));
  });

  it('not JSON', async () => {
    const r = await call('{key:');
    expect(r.status).toBe(400);
  });
});

it('is in the OpenAPI document, with its token and both answers', async () => {
  const doc = (await call(undefined, null, '/openapi.json', 'GET')).json;
  const op = doc.paths['/api/v1/keys/verify'].post;
  expect(op.security).toEqual([{ bearerAuth: [] }]);
  expect(op.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
  expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '413', '500']);
  expect(JSON.stringify(doc.components.schemas.VerifyKeyResult)).toContain('PLANT_NOT_ALLOWED');
});

it('the plaintext keys are in no log line', () => {
  const logs = service.logLines.join('\n');
  expect(logs).not.toContain(key.key);
  expect(logs).not.toContain(fenced.key);
});
