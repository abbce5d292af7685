// The key table's reads: every active key with its organization's slug, or one key by hash or id.

import type { PendingQuery } from 'postgres';
import type { KeyFields } from '../policy/key.js';
import type { Sql } from './db.js';

export interface AuthKeyRow extends KeyFields {
  keyHash: string;
  /** A rotated key's previous secret (migrations/008); the table ignores it after previousKeyExpiresAt. */
  previousKeyHash?: string | null;
}

/** Rows come back as AuthKeyRow as they are (camelCase columns, see db.ts): no mapping per row. */
function selectKeys(sql: Sql, where: PendingQuery<AuthKeyRow[]>) {
  return sql<AuthKeyRow[]>`
    SELECT k.id, k.organization_id, o.slug AS org_slug, k.partner_id, k.key_hash, k.vhost, k.is_active, k.expires_at,
           k.scopes, k.allowed_ips, k.allowed_plant_ids, k.legacy_scope_expansion, k.connected_at IS NOT NULL AS connected,
           k.probe_until, k.probe_ips, k.previous_key_hash, k.previous_key_expires_at, k.key_generation AS generation
    FROM api_keys k JOIN organizations o ON o.id = k.organization_id
    WHERE ${where}`;
}

/** The key and its organization's slug, for the one row `where` picks. */
async function findKey(sql: Sql, where: PendingQuery<AuthKeyRow[]>): Promise<AuthKeyRow | undefined> {
  const [row] = await selectKeys(sql, where);
  return row;
}

const ACTIVE = (sql: Sql) => sql<AuthKeyRow[]>`k.is_active AND (k.expires_at IS NULL OR k.expires_at > now())`;

/** Every active, unexpired key, streamed in batches (one snapshot: a single statement). */
export async function loadActiveKeys(sql: Sql, onRows: (rows: AuthKeyRow[]) => void, batch = 10_000): Promise<void> {
  await selectKeys(sql, ACTIVE(sql)).cursor(batch, (rows) => {
    onRows(rows);
  });
}

/** The active keys of one organization (its slug changed). */
export async function findActiveKeysOfOrganization(sql: Sql, organizationId: string): Promise<AuthKeyRow[]> {
  return selectKeys(sql, sql<AuthKeyRow[]>`k.organization_id = ${organizationId} AND ${ACTIVE(sql)}`);
}

/**
 * All candidate hashes in one query, against both secrets of a key (the previous one even after
 * its overlap, so the refusal can say why); at most one row can match (migrations/008).
 */
export function findKeyByHashes(sql: Sql, hashes: readonly string[]): Promise<AuthKeyRow | undefined> {
  return findKey(sql, sql`(k.key_hash = ANY(${hashes as string[]}) OR k.previous_key_hash = ANY(${hashes as string[]}))`);
}

export function findKeyById(sql: Sql, id: string): Promise<AuthKeyRow | undefined> {
  return findKey(sql, sql`k.id = ${id}`);
}

/**
 * A key found under a legacy hash (plain SHA-256 or an older pepper) is re-stored under the
 * current one, in whichever column held it (its current or its previous secret).
 */
export async function rewriteKeyHash(sql: Sql, id: string, from: string, to: string): Promise<void> {
  await sql`
    UPDATE api_keys
    SET key_hash = CASE WHEN key_hash = ${from} THEN ${to} ELSE key_hash END,
        previous_key_hash = CASE WHEN previous_key_hash = ${from} THEN ${to} ELSE previous_key_hash END
    WHERE id = ${id} AND (key_hash = ${from} OR previous_key_hash = ${from})`;
}
