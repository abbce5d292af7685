// Rows for hot-path tests, written with plain SQL as ops scripts would (the admin API has its own tests).
import { randomUUID } from 'node:crypto';
import { displayPrefix, generateApiKey } from '../../src/keys/format.js';
import { KeyHasher, plainSha256 } from '../../src/keys/hash.js';
import type { Sql } from '../../src/store/db.js';

export async function seedOrg(sql: Sql, slug: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`INSERT INTO organizations (slug, name) VALUES (${slug}, ${slug.toUpperCase()}) RETURNING id`;
  return row!.id;
}

export interface SeedKey {
  orgId: string;
  scopes?: string[];
  allowedIps?: string[];
  /** undefined → partner-<id>; null → legacy key on "/". */
  vhost?: string | null;
  isActive?: boolean;
  expiresAt?: Date | null;
  legacyScopeExpansion?: boolean;
  /** How the hash is stored: with the given pepper (default) or plain SHA-256. */
  hashWith?: Buffer | 'plain';
  key?: string;
  partnerId?: string;
  /** null (default): every plant of the organization. */
  allowedPlantIds?: string[] | null;
}

export async function seedKey(sql: Sql, pepper: Buffer, o: SeedKey): Promise<{ id: string; key: string; vhost: string }> {
  const id = randomUUID();
  const key = o.key ?? generateApiKey();
  const hash = o.hashWith === 'plain' ? plainSha256(key) : new KeyHasher([o.hashWith ?? pepper]).current(key);
  const vhost = o.vhost === undefined ? `partner-${id}` : o.vhost;
  await sql`
    INSERT INTO api_keys (id, organization_id, key_hash, key_prefix, name, partner_id, scopes, allowed_ips, allowed_plant_ids,
                          vhost, is_active, expires_at, legacy_scope_expansion)
    VALUES (${id}, ${o.orgId}, ${hash}, ${displayPrefix(key)}, 'test key', ${o.partnerId ?? 'test-partner'}, ${o.scopes ?? ['vcp:connect']},
            ${o.allowedIps ?? []}, ${o.allowedPlantIds ?? null}, ${vhost}, ${o.isActive ?? true}, ${o.expiresAt ?? null}, ${o.legacyScopeExpansion ?? false})`;
  return { id, key, vhost: vhost ?? '/' };
}
