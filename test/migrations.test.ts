import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('migrations', () => {
  it('are applied once, also when several instances start together', async () => {
    const empty = await createTestDatabase({ migrated: false });
    const instances = [connect(empty.url, { max: 1 }), connect(empty.url, { max: 1 }), connect(empty.url, { max: 1 })];
    try {
      const results = await Promise.all(instances.map((s) => migrate(s)));
      const all = [
        '001_init.sql',
        '002_legacy_scope_expansion.sql',
        '003_self_test_window.sql',
        '005_revoke_audit.sql',
        '006_probe_window.sql',
        '007_import_fingerprint.sql',
        '008_partner_queue_type.sql',
        '009_rotation.sql',
      ];
      // One instance applies everything under the advisory lock; the others find it done.
      expect(results.map((r) => r.length).sort()).toEqual([0, 0, all.length]);
      expect(results.flat()).toEqual(all);
      const rows = await empty.sql<{ name: string }[]>`SELECT name FROM schema_migrations ORDER BY name`;
      expect(rows.map((r) => r.name)).toEqual(all);
      expect(await Promise.all(instances.map((s) => migrate(s)))).toEqual([[], [], []]);
    } finally {
      await Promise.all(instances.map((s) => s.end()));
      await empty.drop();
    }
  });

  it('notify key and organization changes, but not bookkeeping columns', async () => {
    const seen: string[] = [];
    const listener = await db.sql.listen('voke_auth_changes', (p) => seen.push(p));
    const [org] = await db.sql<{ id: string }[]>`INSERT INTO organizations (slug, name) VALUES ('mig-org', 'M') RETURNING id`;
    const [key] = await db.sql<{ id: string }[]>`
      INSERT INTO api_keys (organization_id, key_hash, key_prefix, name, partner_id, scopes)
      VALUES (${org!.id}, 'h1', 'voke_abcd', 'k', 'p', '{vcp:connect}') RETURNING id`;
    await db.sql`UPDATE api_keys SET last_used_at = now(), connected_at = now() WHERE id = ${key!.id}`;
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${key!.id}`;
    await db.sql`UPDATE organizations SET slug = 'mig-org-2' WHERE id = ${org!.id}`;
    await expect.poll(() => seen.length).toBe(4);
    expect(seen).toEqual([`organizations:INSERT:${org!.id}`, `api_keys:INSERT:${key!.id}`, `api_keys:UPDATE:${key!.id}`, `organizations:UPDATE:${org!.id}`]);
    await listener.unlisten();
  });

  it('new keys do not get legacy scope expansion', async () => {
    const [org] = await db.sql<{ id: string }[]>`INSERT INTO organizations (slug, name) VALUES ('mig-new', 'N') RETURNING id`;
    const [row] = await db.sql<{ legacyScopeExpansion: boolean }[]>`
      INSERT INTO api_keys (organization_id, key_hash, key_prefix, name, partner_id, scopes)
      VALUES (${org!.id}, 'h2', 'voke_abcd', 'k', 'p', '{vcp:connect}') RETURNING legacy_scope_expansion`;
    expect(row!.legacyScopeExpansion).toBe(false);
  });
});
