// Rotation on the hot path and in the database: a rotated key logs in with either secret while
// its overlap lasts, each answering its own generation tag; the previous secret is refused from
// the overlap's end on by the key table itself (no NOTIFY needed); tagged calls of a replaced
// secret are denied; the runbook's SQL revocation still revokes both secrets; pepper and
// plain-SHA rewrites reach the previous hash; no hash can name two keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayPrefix, generateApiKey } from '../src/keys/format.js';
import { KeyHasher, plainSha256 } from '../src/keys/hash.js';
import { rotateApiKey } from '../src/store/rotation.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { askAuth, startTestService, TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
const hasher = new KeyHasher([pepper]);
let db: TestDatabase;
let org: string;
let service: Awaited<ReturnType<typeof startTestService>>;
/** The service's clock runs this far ahead of the real one. */
let skewMs = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  org = await seedOrg(db.sql, 'rot');
  service = await startTestService(db.url, { admin: false, now: () => Date.now() + skewMs });
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

async function rotate(id: string, overlapSeconds: number): Promise<string> {
  const key = generateApiKey();
  await db.sql.begin((tx) => rotateApiKey(tx, org, id, { keyHash: hasher.current(key), keyPrefix: displayPrefix(key) }, overlapSeconds, 10_000));
  return key;
}

const login = (key: string) => askAuth(service.authUrl, 'user', { username: 'rot', password: key }).then((r) => r.body);
const vhost = (id: string, tags: string, ip = '10.1.2.3') =>
  askAuth(service.authUrl, 'vhost', { username: 'rot', vhost: `partner-${id}`, ip, tags }).then((r) => r.body);
const resource = (id: string, tags: string) =>
  askAuth(service.authUrl, 'resource', {
    username: 'rot',
    vhost: `partner-${id}`,
    resource: 'queue',
    name: 'vcp.rot.event.telemetry',
    permission: 'read',
    tags,
  }).then((r) => r.body);
const topic = (id: string, tags: string) =>
  askAuth(service.authUrl, 'topic', {
    username: 'rot',
    vhost: `partner-${id}`,
    resource: 'topic',
    name: 'vcp',
    permission: 'read',
    routing_key: 'rot.event.x',
    tags,
  }).then((r) => r.body);

describe('a rotated key on the hot path', () => {
  it("both secrets log in during the overlap, each with its generation tag; the previous one is refused from the overlap's end without any NOTIFY", async () => {
    skewMs = 0;
    const initial = service.changesApplied();
    const k = await seedKey(db.sql, pepper, { orgId: org });
    await expect.poll(() => login(k.key)).toBe(`allow vcp-key-${k.id}`);
    const next = await rotate(k.id, 60);
    await expect.poll(() => login(next)).toBe(`allow vcp-key-${k.id} vcp-gen-1`);
    // A login can find the key in the database before its NOTIFY is applied: wait for both
    // changes (the insert, the rotation) so that none lands in the no-NOTIFY window below.
    await expect.poll(() => service.changesApplied()).toBeGreaterThanOrEqual(initial + 2);
    expect(await login(k.key)).toBe(`allow vcp-key-${k.id}`);
    for (const tags of [`vcp-key-${k.id}`, `vcp-key-${k.id} vcp-gen-1`]) {
      expect(await vhost(k.id, tags)).toBe('allow');
      expect(await resource(k.id, tags)).toBe('allow');
      expect(await topic(k.id, tags)).toBe('allow');
    }
    // A generation that never existed, a malformed one, two of them, another key's tag beside: deny.
    for (const tags of [`vcp-key-${k.id} vcp-gen-5`, `vcp-key-${k.id} vcp-gen-x`, `vcp-key-${k.id} vcp-gen-1 vcp-gen-0`, `vcp-key-${k.id} vcp-key-${k.id}`]) {
      expect(await vhost(k.id, tags), tags).toBe('deny');
    }
    // The overlap ends on the service's clock; the database changes nothing, no NOTIFY comes.
    const applied = service.changesApplied();
    skewMs = 61_000;
    expect(await login(k.key)).toBe('deny');
    expect(await login(k.key)).toBe('deny'); // now from the not-found entries
    expect(service.table.byHash(hasher.current(k.key))).toBeUndefined();
    expect(await vhost(k.id, `vcp-key-${k.id}`)).toBe('deny');
    expect(await resource(k.id, `vcp-key-${k.id}`)).toBe('deny');
    expect(await topic(k.id, `vcp-key-${k.id}`)).toBe('deny');
    expect(await login(next)).toBe(`allow vcp-key-${k.id} vcp-gen-1`);
    expect(await vhost(k.id, `vcp-key-${k.id} vcp-gen-1`)).toBe('allow');
    expect(service.changesApplied()).toBe(applied);
    skewMs = 0;
  });

  it('a previous secret past its overlap is refused by an instance that loads the table afterwards (database path)', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    const next = await rotate(k.id, 0);
    const fresh = await startTestService(db.url, { admin: false });
    try {
      expect((await askAuth(fresh.authUrl, 'user', { username: 'rot', password: k.key })).body).toBe('deny');
      expect((await askAuth(fresh.authUrl, 'user', { username: 'rot', password: next })).body).toBe(`allow vcp-key-${k.id} vcp-gen-1`);
    } finally {
      await fresh.stop();
    }
  });

  it('rotating during an overlap ends the older previous secret at once: at most two secrets', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    const second = await rotate(k.id, 3600);
    await expect.poll(() => login(second)).toMatch(/vcp-gen-1$/);
    expect(await login(k.key)).toBe(`allow vcp-key-${k.id}`);
    const third = await rotate(k.id, 3600);
    await expect.poll(() => login(third)).toBe(`allow vcp-key-${k.id} vcp-gen-2`);
    expect(await login(second)).toBe(`allow vcp-key-${k.id} vcp-gen-1`);
    expect(await login(k.key)).toBe('deny');
    expect(await vhost(k.id, `vcp-key-${k.id}`)).toBe('deny'); // generation 0's connections: refused
    const [closeouts] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_key_closeouts WHERE api_key_id = ${k.id} AND done_at IS NULL`;
    expect(closeouts!.n).toBe(2); // now (keep generations 1 and 2) and at the overlap's end (keep 2)
  });

  it('UPDATE api_keys SET is_active = false revokes both secrets, with one api_key.revoked row', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    const next = await rotate(k.id, 3600);
    await expect.poll(() => login(next)).toMatch(/^allow/);
    expect(await login(k.key)).toMatch(/^allow/);
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
    await expect.poll(() => login(next)).toBe('deny');
    expect(await login(k.key)).toBe('deny');
    expect(await vhost(k.id, `vcp-key-${k.id} vcp-gen-1`)).toBe('deny');
    const rows = await db.sql`SELECT details FROM audit_events WHERE api_key_id = ${k.id} AND type = 'api_key.revoked'`;
    expect(rows).toHaveLength(1);
  });

  it('a previous secret stored as plain SHA-256 (or under an older pepper) logs in and is re-stored under the current pepper', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org, hashWith: 'plain' });
    const next = await rotate(k.id, 3600);
    const [before] = await db.sql<{ previousKeyHash: string }[]>`SELECT previous_key_hash FROM api_keys WHERE id = ${k.id}`;
    expect(before!.previousKeyHash).toBe(plainSha256(k.key));
    await expect.poll(() => login(next)).toMatch(/^allow/);
    expect(await login(k.key)).toBe(`allow vcp-key-${k.id}`);
    await expect
      .poll(async () => (await db.sql<{ previousKeyHash: string }[]>`SELECT previous_key_hash FROM api_keys WHERE id = ${k.id}`)[0]!.previousKeyHash)
      .toBe(hasher.current(k.key));
    expect(await login(k.key)).toBe(`allow vcp-key-${k.id}`);
  });

  it('records which generation passed the vhost check from which address, while the rotation may need it', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    await rotate(k.id, 3600);
    await expect.poll(() => vhost(k.id, `vcp-key-${k.id} vcp-gen-1`, '::ffff:10.9.8.7')).toBe('allow');
    expect(await vhost(k.id, `vcp-key-${k.id}`, '10.9.8.6')).toBe('allow');
    await expect
      .poll(async () =>
        (await db.sql<{ generation: number; ip: string }[]>`SELECT generation, ip FROM api_key_secret_uses WHERE api_key_id = ${k.id} ORDER BY generation`).map(
          (r) => `${r.generation}@${r.ip}`,
        ),
      )
      .toEqual(['0@10.9.8.6', '1@10.9.8.7']);
    // A key never rotated writes nothing.
    const plain = await seedKey(db.sql, pepper, { orgId: org });
    await expect.poll(() => vhost(plain.id, `vcp-key-${plain.id}`)).toBe('allow');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await db.sql`SELECT 1 FROM api_key_secret_uses WHERE api_key_id = ${plain.id}`).toHaveLength(0);
  });
});

describe('the database contract', () => {
  it('a hash names one key and one secret: unique within and across key_hash and previous_key_hash', async () => {
    const a = await seedKey(db.sql, pepper, { orgId: org });
    const b = await seedKey(db.sql, pepper, { orgId: org });
    await rotate(a.id, 3600);
    const [rowA] = await db.sql<{ keyHash: string; previousKeyHash: string }[]>`SELECT key_hash, previous_key_hash FROM api_keys WHERE id = ${a.id}`;
    await expect(db.sql`UPDATE api_keys SET key_hash = ${rowA!.previousKeyHash} WHERE id = ${b.id}`).rejects.toMatchObject({ code: '23505' });
    await expect(db.sql`UPDATE api_keys SET previous_key_hash = ${rowA!.keyHash} WHERE id = ${b.id}`).rejects.toMatchObject({ code: '23505' });
    await expect(db.sql`UPDATE api_keys SET previous_key_hash = ${rowA!.previousKeyHash} WHERE id = ${b.id}`).rejects.toMatchObject({ code: '23505' });
    await expect(db.sql`UPDATE api_keys SET previous_key_hash = key_hash WHERE id = ${b.id}`).rejects.toMatchObject({ code: '23505' });
  });

  it('a change to the previous secret alone notifies every instance (the NOTIFY trigger covers the new columns)', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    const next = await rotate(k.id, 3600);
    await expect.poll(() => login(k.key)).toBe(`allow vcp-key-${k.id}`);
    const applied = service.changesApplied();
    await db.sql`UPDATE api_keys SET previous_key_expires_at = now() - interval '1 second' WHERE id = ${k.id}`;
    await expect.poll(() => service.changesApplied()).toBeGreaterThan(applied);
    await expect.poll(() => login(k.key)).toBe('deny');
    expect(await login(next)).toMatch(/^allow/);
  });
});
