// The four broker endpoints through real HTTP, with keys stored in a real PostgreSQL.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hash.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, metricSum, startTestService, TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let acme: string;
let url: string;

beforeAll(async () => {
  db = await createTestDatabase();
  acme = await seedOrg(db.sql, 'acme');
  await seedOrg(db.sql, 'other');
  service = await startTestService(db.url, { admin: false });
  url = service.authUrl;
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const login = (username: string, password: string, method: 'POST' | 'GET' = 'POST') => askAuth(url, 'user', { username, password }, method);
const tag = (id: string) => `vcp-key-${id}`;

/**
 * Key lookups that went to the database or were denied unasked (throttled); not `late`, which
 * counts calls denied at the answer deadline whose read is counted as well.
 */
async function lookups(): Promise<number> {
  const name = 'voke_auth_db_lookups_total';
  return (await metricSum(service, name)) - (await metricSum(service, name, { outcome: 'late' }));
}

/** The key's insert NOTIFY has been applied: it is in this instance's table. */
const inTable = (id: string) => expect.poll(() => service.table.byId(id)).toBeDefined();

/**
 * Seeds a key and waits until every given instance has applied its INSERT notification, so that
 * a later wait for "one more notification" can only be satisfied by the change under test.
 */
async function seedKeyApplied(instances: { changesApplied(): number }[], ...args: Parameters<typeof seedKey>) {
  const before = instances.map((i) => i.changesApplied());
  const k = await seedKey(...args);
  for (const [n, i] of instances.entries()) await expect.poll(() => i.changesApplied(), { interval: 1 }).toBeGreaterThan(before[n]!);
  return k;
}

describe.each(['POST', 'GET'] as const)('login (%s)', (method) => {
  it('allows a valid key with its tag, as text/plain 200', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme });
    // From the key table (NOTIFY), not the miss lookup, whose deadline a loaded machine can miss.
    await expect.poll(() => service.table.byId(k.id)).toBeDefined();
    const r = await login('acme', k.key, method);
    expect(r).toEqual({ status: 200, type: 'text/plain', body: `allow ${tag(k.id)}` });
  });

  it.each([
    ['wrong slug', {}, 'other'],
    ['key id as username', {}, 'ID'],
    ['revoked', { isActive: false }, 'acme'],
    ['expired', { expiresAt: new Date(Date.now() - 1000) }, 'acme'],
    ['missing connect scope', { scopes: ['vcp:read', 'vcp:write:mode'] }, 'acme'],
  ])('denies %s', async (_, over, username) => {
    const k = await seedKey(db.sql, pepper, { orgId: acme, ...over });
    const r = await login(username === 'ID' ? k.id : username, k.key, method);
    expect(r).toEqual({ status: 200, type: 'text/plain', body: 'deny' });
  });
});

describe('login', () => {
  it('denies unknown, malformed, bad-checksum, empty and oversized keys', async () => {
    const real = await seedKey(db.sql, pepper, { orgId: acme });
    const badChecksum = real.key.slice(0, -1) + (real.key.endsWith('a') ? 'b' : 'a');
    for (const password of [generateApiKey(), 'not-a-key', badChecksum, '', 'x'.repeat(600)]) {
      expect((await login('acme', password)).body).toBe('deny');
    }
    expect((await askAuth(url, 'user', { username: 'acme' })).body).toBe('deny');
  });

  it('accepts the legacy trading:connect scope', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme, scopes: ['trading:connect'] });
    expect((await login('acme', k.key)).body).toBe(`allow ${tag(k.id)}`);
  });

  it('accepts a key stored as plain SHA-256 and rewrites it to the peppered hash', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme, hashWith: 'plain', key: 'legacy-format-key-0001' });
    await inTable(k.id);
    const before = await lookups();
    expect((await login('acme', k.key)).body).toBe(`allow ${tag(k.id)}`);
    expect((await lookups()) - before).toBe(0); // matched in memory
    const expected = new KeyHasher([pepper]).current(k.key);
    await expect.poll(async () => (await db.sql`SELECT key_hash FROM api_keys WHERE id = ${k.id}`)[0]!.keyHash).toBe(expected);
    // and still works once the rewrite's NOTIFY has replaced the table entry
    await expect.poll(() => service.table.byHash(expected)?.id).toBe(k.id);
    expect((await login('acme', k.key)).body).toBe(`allow ${tag(k.id)}`);
  });

  it('rotates peppers: a key under an older pepper works and moves to the current one', async () => {
    const old = Buffer.from('the-previous-pepper');
    const k = await seedKey(db.sql, pepper, { orgId: acme, hashWith: old });
    expect((await login('acme', k.key)).body).toBe('deny'); // this instance does not know the old pepper
    const rotated = await startTestService(db.url, { admin: false, env: { API_KEY_PEPPER: `${TEST_PEPPER},the-previous-pepper` } });
    try {
      expect((await askAuth(rotated.authUrl, 'user', { username: 'acme', password: k.key })).body).toBe(`allow ${tag(k.id)}`);
      const expected = new KeyHasher([pepper]).current(k.key);
      await expect.poll(async () => (await db.sql`SELECT key_hash FROM api_keys WHERE id = ${k.id}`)[0]!.keyHash).toBe(expected);
    } finally {
      await rotated.stop();
    }
  });

  it('follows an organization slug change made in SQL', async () => {
    const org = await seedOrg(db.sql, 'renamed-before');
    const k = await seedKey(db.sql, pepper, { orgId: org });
    expect((await login('renamed-before', k.key)).body).toBe(`allow ${tag(k.id)}`);
    await db.sql`UPDATE organizations SET slug = 'renamed-after' WHERE id = ${org}`;
    await expect.poll(async () => (await login('renamed-before', k.key)).body).toBe('deny');
    expect((await login('renamed-after', k.key)).body).toBe(`allow ${tag(k.id)}`);
  });
});

describe('vhost, resource and topic calls are bound to the login tag', () => {
  it('lets a key into its own vhost only; a key of the same org cannot enter it', async () => {
    const a = await seedKey(db.sql, pepper, { orgId: acme, scopes: ['vcp:connect', 'vcp:write:mode'] });
    const b = await seedKey(db.sql, pepper, { orgId: acme });
    const vhost = (_id: string, vh: string, tags: string) => askAuth(url, 'vhost', { username: 'acme', vhost: vh, ip: '127.0.0.1', tags });
    expect((await vhost(a.id, a.vhost, tag(a.id))).body).toBe('allow');
    expect((await vhost(b.id, a.vhost, tag(b.id))).body).toBe('deny'); // b borrowing a's vhost and scopes
    expect((await vhost(b.id, '/', tag(b.id))).body).toBe('deny');
    expect((await vhost(a.id, a.vhost, '')).body).toBe('deny');
    // b, inside a's vhost somehow, may not publish with a's scopes
    const publish = (t: string) =>
      askAuth(url, 'topic', {
        username: 'acme',
        vhost: a.vhost,
        resource: 'topic',
        name: 'vcp',
        permission: 'write',
        routing_key: 'acme.command.mode',
        tags: t,
      });
    expect((await publish(tag(a.id))).body).toBe('allow');
    expect((await publish(tag(b.id))).body).toBe('deny');
    expect((await publish('')).body).toBe('deny');
  });

  it('legacy keys (vhost null) use "/" only', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme, vhost: null });
    const ask = (vh: string) => askAuth(url, 'vhost', { username: 'acme', vhost: vh, ip: '10.0.0.1', tags: tag(k.id) }, 'GET');
    expect((await ask('/')).body).toBe('allow');
    expect((await ask(`partner-${k.id}`)).body).toBe('deny');
  });

  it('applies the IP allowlist, with IPv4-mapped addresses', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme, allowedIps: ['203.0.113.0/24', '2001:db8::/32'] });
    const ask = (ip: string) => askAuth(url, 'vhost', { username: 'acme', vhost: k.vhost, ip, tags: tag(k.id) });
    expect((await ask('203.0.113.9')).body).toBe('allow');
    expect((await ask('::ffff:203.0.113.9')).body).toBe('allow');
    expect((await ask('2001:db8::5')).body).toBe('allow');
    expect((await ask('198.51.100.1')).body).toBe('deny');
    expect((await ask('garbage')).body).toBe('deny');
  });

  it.each(['POST', 'GET'] as const)('resource and topic rows (%s)', async (method) => {
    const k = await seedKey(db.sql, pepper, { orgId: acme, scopes: ['vcp:connect', 'vcp:write:setpoint'] });
    const base = { username: 'acme', vhost: k.vhost, tags: tag(k.id) };
    const res = (resource: string, name: string, permission: string) =>
      askAuth(url, 'resource', { ...base, resource, name, permission }, method).then((r) => r.body);
    const topic = (permission: string, routing_key: string, name = 'vcp') =>
      askAuth(
        url,
        'topic',
        { ...base, resource: 'topic', name, permission, routing_key, 'variable_map.username': 'acme', 'variable_map.vhost': k.vhost },
        method,
      ).then((r) => r.body);
    expect(await res('queue', 'vcp.acme.event.telemetry', 'read')).toBe('allow');
    expect(await res('queue', 'vcp.other.event.telemetry', 'read')).toBe('deny');
    expect(await res('queue', 'vcp.acme.command', 'write')).toBe('deny');
    expect(await res('queue', 'vcp.acme.event.telemetry', 'configure')).toBe('deny');
    expect(await res('exchange', 'vcp', 'write')).toBe('allow');
    expect(await res('exchange', 'amq.default', 'write')).toBe('deny');
    expect(await topic('write', 'acme.command.site-setpoint')).toBe('allow');
    expect(await topic('write', 'acme.command.mode')).toBe('deny');
    expect(await topic('write', 'acme.command.emergency')).toBe('deny');
    expect(await topic('write', 'other.command.site-setpoint')).toBe('deny');
    expect(await topic('read', 'acme.event.telemetry.#')).toBe('allow');
    expect(await topic('read', 'other.event.#')).toBe('deny');
    expect(await topic('write', 'acme.command.site-setpoint', 'amq.topic')).toBe('deny');
  });

  it('denies the calls of a key revoked after login', async () => {
    const k = await seedKeyApplied([service], db.sql, pepper, { orgId: acme });
    const ask = () =>
      askAuth(url, 'resource', { username: 'acme', vhost: k.vhost, resource: 'queue', name: 'vcp.acme.event.alarm', permission: 'read', tags: tag(k.id) });
    expect((await ask()).body).toBe('allow');
    const seen = service.changesApplied();
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
    await expect.poll(() => service.changesApplied(), { interval: 1 }).toBeGreaterThan(seen);
    expect((await ask()).body).toBe('deny');
  });
});

describe('anything a client can send on the broker paths gets 200 text/plain', () => {
  it('a path outside the broker four and /auth/rest is 404, never a 2xx a gateway would read as allow', async () => {
    const res = await fetch(`${url}/auth/unknown`, { method: 'POST', body: 'username=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toBe('deny');
  });

  it.each([
    ['PUT method', 'PUT', '/auth/user', 'username=a', 'deny'],
    ['broken percent-encoding', 'POST', '/auth/user', 'username=%zz&password=%E0%A4%A', 'deny'],
    ['JSON body', 'POST', '/auth/topic', '{"username":"acme"}', 'deny'],
    ['oversized body', 'POST', '/auth/user', `password=${'a'.repeat(20_000)}`, 'deny'],
    ['unknown fields only', 'POST', '/auth/vhost', 'client_id=x&is_loopback=true', 'deny'],
  ])('%s', async (_, method, path, body, expected) => {
    const res = await fetch(url + path, { method, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe(expected);
  });

  it('reads a body that arrives in several chunks, and denies one that grows past the limit', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme });
    const form = new URLSearchParams({ username: 'acme', password: k.key }).toString();
    const cut = form.length - 7; // inside the key
    const chunked = (parts: string[]) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${url}/auth/user`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        (async () => {
          for (const part of parts) {
            req.write(part);
            await new Promise((r) => setTimeout(r, 20));
          }
          req.end();
        })();
      });
    expect(await chunked([form.slice(0, cut), form.slice(cut)])).toEqual({ status: 200, body: `allow ${tag(k.id)}` });
    expect(await chunked([form, `&pad=${'a'.repeat(6000)}`, 'a'.repeat(6000)])).toEqual({ status: 200, body: 'deny' });
  });

  it('ignores fields it does not know (newer brokers)', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme });
    const r = await askAuth(url, 'user', { username: 'acme', password: k.key, client_id: 'c1', vhost: 'x', 'variable_map.client_id': 'c1' });
    expect(r.body).toBe(`allow ${tag(k.id)}`);
  });
});

describe('revocation', () => {
  it('a plain SQL UPDATE is denied on the very next call once its NOTIFY has arrived', async () => {
    const k = await seedKeyApplied([service], db.sql, pepper, { orgId: acme });
    expect((await login('acme', k.key)).body).toBe(`allow ${tag(k.id)}`);
    const seen = service.changesApplied();
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
    // The NOTIFY travels on its own connection, so it can trail the UPDATE's reply by a fraction
    // of a millisecond; no call is answered from the table once it is applied (the entry is
    // removed at once, and a call meanwhile waits for the key's re-read).
    await expect.poll(() => service.changesApplied(), { interval: 1 }).toBeGreaterThan(seen);
    expect((await login('acme', k.key)).body).toBe('deny');
    expect((await askAuth(url, 'vhost', { username: 'acme', vhost: k.vhost, ip: '127.0.0.1', tags: tag(k.id) })).body).toBe('deny');
  });

  it('a revoke is denied by every instance once its NOTIFY has arrived there', async () => {
    const second = await startTestService(db.url, { admin: false });
    try {
      const k = await seedKeyApplied([service, second], db.sql, pepper, { orgId: acme });
      expect((await login('acme', k.key)).body).toBe(`allow ${tag(k.id)}`);
      expect((await askAuth(second.authUrl, 'user', { username: 'acme', password: k.key })).body).toBe(`allow ${tag(k.id)}`);
      const seen = second.changesApplied();
      await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
      await expect.poll(() => second.changesApplied(), { interval: 1 }).toBeGreaterThan(seen);
      expect((await askAuth(second.authUrl, 'user', { username: 'acme', password: k.key })).body).toBe('deny');
    } finally {
      await second.stop();
    }
  });
});

describe('load on the database', () => {
  it('a flood of unknown keys does not query the database once per request', async () => {
    const unknown = Array.from({ length: 5 }, () => generateApiKey());
    const before = await lookups();
    const requests = 1000;
    await Promise.all(Array.from({ length: requests }, (_, i) => login('acme', unknown[i % unknown.length]!)));
    // random strings with a bad checksum never reach the database at all
    await Promise.all(Array.from({ length: 200 }, (_, i) => login('acme', `voke_${'A'.repeat(40)}${String(i).padStart(6, '0')}`)));
    // one lookup per distinct unknown key (concurrent misses share it), then "not found" entries
    const queries = (await lookups()) - before;
    expect(queries).toBe(unknown.length);
  });

  it('a key in the table never reaches the database, not even at its first login', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: acme });
    await inTable(k.id);
    const before = await lookups();
    for (let i = 0; i < 200; i++) expect((await login('acme', k.key)).body).toBe(`allow ${tag(k.id)}`);
    expect((await askAuth(url, 'vhost', { username: 'acme', vhost: k.vhost, ip: '127.0.0.1', tags: tag(k.id) })).body).toBe('allow');
    expect((await lookups()) - before).toBe(0);
  });
});
