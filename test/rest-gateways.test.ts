// Forward auth through real gateways: nginx (auth_request) and Caddy (forward_auth) from their
// Debian packages, each running the configuration the repository ships (deploy/nginx/…,
// deploy/caddy/…) with only its ports changed, in front of a real service, PostgreSQL and an
// upstream that echoes what reached it. Clients connect from chosen loopback addresses.
// A missing gateway skips its suite with the reason, or fails it under E2E_REQUIRED=1.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import {
  type Echoed,
  e2eRequired,
  findGateway,
  freePort,
  type GatewayName,
  PACKAGES,
  type RunningGateway,
  startEchoUpstream,
  startGateway,
} from './support/gateways.js';
import { seedKey, seedOrg } from './support/seed.js';
import { startTestService, TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
const PLANT_A = randomUUID();
const PLANT_B = randomUUID();

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(base: string, path: string, headers: Record<string, string>, from = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { headers, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function gatewaySuite(name: GatewayName): void {
  let db: TestDatabase;
  let service: Awaited<ReturnType<typeof startTestService>>;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let gateway: RunningGateway;
  let orgId: string;
  type Seeded = Awaited<ReturnType<typeof seedKey>>;
  let reader: Seeded;
  let fenced: Seeded;
  let revoked: Seeded;
  let expired: Seeded;
  let noPlants: Seeded;

  beforeAll(async () => {
    db = await createTestDatabase();
    orgId = await seedOrg(db.sql, 'acme');
    reader = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read', 'telemetry:read'], partnerId: 'partner one', allowedPlantIds: [PLANT_A] });
    fenced = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'], allowedIps: ['127.0.0.5/32'] });
    revoked = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'], isActive: false });
    expired = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'], expiresAt: new Date(Date.now() - 1000) });
    noPlants = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read', 'telemetry:read'], allowedPlantIds: [] });
    // The gateway reaches voke-auth from 127.0.0.1; clients come from other loopback addresses.
    service = await startTestService(db.url, { admin: false, missAnswerDeadlineMs: 10_000, env: { TRUSTED_PROXIES: '127.0.0.1' } });
    upstream = await startEchoUpstream();
    gateway = await startGateway(name, { auth: new URL(service.authUrl).host, upstream: upstream.address, port: await freePort() });
  });
  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
    await service?.stop();
    await db?.drop();
  });

  const call = (path: string, headers: Record<string, string>, from = '127.0.0.2') => get(gateway.url, path, headers, from);
  /** The request as it reached the upstream (the echo), for an answer that came from there. */
  const echoed = (a: Answer): Echoed => {
    expect(a.status, `${a.status} ${a.body}\n${gateway.output()}`).toBe(200);
    return JSON.parse(a.body) as Echoed;
  };
  /** Runs `f`, which must not reach the upstream. */
  async function refused(f: () => Promise<Answer>): Promise<Answer> {
    const before = upstream.received.length;
    const a = await f();
    expect(upstream.received.length, 'the upstream was reached').toBe(before);
    return a;
  }

  it('allow: the identity headers reach the upstream, replacing forged ones; the key does not', async () => {
    const seen = echoed(
      await call('/v1/things?x=1', {
        'x-api-key': reader.key,
        'x-voke-key-id': 'forged',
        'x-voke-scopes': 'config:write',
        'x-voke-organization-id': 'forged',
        'x-voke-partner-id': 'forged',
        'x-voke-allowed-plant-ids': '*',
      }),
    );
    expect(seen.url).toBe('/v1/things?x=1');
    expect(seen.headers['x-voke-key-id']).toBe(reader.id);
    expect(seen.headers['x-voke-organization-id']).toBe(orgId);
    expect(seen.headers['x-voke-partner-id']).toBe('partner%20one');
    expect(seen.headers['x-voke-scopes']).toBe('vcp:read,telemetry:read');
    expect(seen.headers['x-voke-allowed-plant-ids']).toBe(PLANT_A);
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain(reader.key);
  });

  it('a key that may address no plant: no plant header reaches the upstream, whatever the client sent', async () => {
    const seen = echoed(await call('/v1/things', { 'x-api-key': noPlants.key, 'x-voke-allowed-plant-ids': '*' }));
    expect(seen.headers['x-voke-key-id']).toBe(noPlants.id);
    expect(seen.headers['x-voke-allowed-plant-ids'] ?? '').toBe('');
    const refusedPlant = await refused(() => call(`/v1/plants/${PLANT_A}/telemetry`, { 'x-api-key': noPlants.key }));
    expect(refusedPlant.status).toBe(403);
  });

  it('401 with a JSON body: no key, unknown, malformed, revoked, expired', async () => {
    const none = await refused(() => call('/v1/things', {}));
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toEqual({ code: 'UNAUTHORIZED', message: 'Missing X-API-Key header' });
    for (const key of [generateApiKey(), `${reader.key}x`, revoked.key, expired.key]) {
      const a = await refused(() => call('/v1/things', { 'x-api-key': key }));
      expect(a.status).toBe(401);
      expect(JSON.parse(a.body)).toEqual({ code: 'UNAUTHORIZED', message: 'A valid API key is required in the X-API-Key header' });
      expect(a.body + JSON.stringify(a.headers)).not.toContain(key);
    }
  });

  it('403 scope: the route sets the scopes, the client cannot', async () => {
    const path = `/v1/plants/${PLANT_A}/commands`;
    for (const forged of [{}, { 'x-voke-required-scopes': '' }, { 'x-voke-required-scopes': 'vcp:read' }] as Record<string, string>[]) {
      const a = await refused(() => call(path, { 'x-api-key': reader.key, ...forged }));
      expect(a.status).toBe(403);
      expect(JSON.parse(a.body)).toEqual({ code: 'INSUFFICIENT_SCOPE', message: 'This API key lacks a scope this request requires' });
    }
  });

  it('403 plant: the plant of the path against allowedPlantIds; the client cannot name another', async () => {
    expect(echoed(await call(`/v1/plants/${PLANT_A}/telemetry`, { 'x-api-key': reader.key })).url).toBe(`/v1/plants/${PLANT_A}/telemetry`);
    const other = await refused(() => call(`/v1/plants/${PLANT_B}/telemetry`, { 'x-api-key': reader.key, 'x-voke-plant-id': PLANT_A }));
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body).code).toBe('PLANT_NOT_ALLOWED');
  });

  it('403 address: the client the gateway sees; forged forwarding headers from a client are ignored', async () => {
    expect(echoed(await call('/v1/things', { 'x-api-key': fenced.key }, '127.0.0.5')).headers['x-voke-key-id']).toBe(fenced.id);
    const outside = await refused(() => call('/v1/things', { 'x-api-key': fenced.key }, '127.0.0.6'));
    expect(outside.status).toBe(403);
    expect(JSON.parse(outside.body).code).toBe('IP_NOT_ALLOWED');
    for (const forged of [
      { 'x-forwarded-for': '127.0.0.5' },
      { 'x-real-ip': '127.0.0.5' },
      { 'x-forwarded-for': '127.0.0.5', 'x-real-ip': '127.0.0.5' },
    ] as Record<string, string>[]) {
      const a = await refused(() => call('/v1/things', { 'x-api-key': fenced.key, ...forged }, '127.0.0.6'));
      expect(a.status, JSON.stringify(forged)).toBe(403);
    }
  });

  it('revocation takes effect through the gateway at once', async () => {
    const k = await seedKey(db.sql, pepper, { orgId, scopes: ['vcp:read'] });
    await expect.poll(() => service.table.byId(k.id)).toBeDefined();
    expect(echoed(await call('/v1/things', { 'x-api-key': k.key })).headers['x-voke-key-id']).toBe(k.id);
    const seen = service.changesApplied();
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
    // Once this instance has the change (its NOTIFY, milliseconds), the very next request is refused.
    await expect.poll(() => service.changesApplied(), { interval: 5, timeout: 5_000 }).toBeGreaterThan(seen);
    const a = await refused(() => call('/v1/things', { 'x-api-key': k.key }));
    expect(a.status).toBe(401);
  });

  it('a path the gateway does not route: never the upstream', async () => {
    expect((await refused(() => call('/elsewhere', { 'x-api-key': reader.key }))).status).toBe(404);
    // nginx's `return 404` comes before its access phase (no key check); Caddy asks first (401).
    expect([404, 401]).toContain((await refused(() => call('/elsewhere', {}))).status);
  });
}

for (const name of ['nginx', 'caddy'] as const) {
  const title = `forward auth through ${name} (${name === 'nginx' ? 'auth_request' : 'forward_auth'}), shipped configuration`;
  if (findGateway(name) !== undefined) {
    describe(title, () => gatewaySuite(name));
  } else if (e2eRequired()) {
    describe(title, () => {
      it(`needs ${name} (E2E_REQUIRED=1)`, () => {
        throw new Error(`E2E_REQUIRED=1 but ${name} is not installed: apt-get install -y ${PACKAGES[name]}`);
      });
    });
  } else {
    describe.skip(`${title} [skipped: ${name} is not installed; apt-get install -y ${PACKAGES[name]}]`, () => gatewaySuite(name));
  }
}
