// The key table's reads: every active key with its organization's slug, or one key by hash or id.
import type { KeyFields } from '../policy/key.js';
import type { PendingQuery } from 'postgres';
import type { Sql } from './db.js';

export interface AuthKeyRow extends KeyFields {
  keyHash: string;
}

interface Row {
  id: string;
  organization_id: string;
  slug: string;
  partner_id: string;
  key_hash: string;
  vhost: string | null;
  is_active: boolean;
  expires_at: Date | null;
  scopes: string[];
  allowed_ips: string[];
  allowed_plant_ids: string[] | null;
  legacy_scope_expansion: boolean;
  connected_at: Date | null;
  probe_until: Date | null;
  probe_ips: string[];
}

function toFields(r: Row): AuthKeyRow {
  return {
    id: r.id,
    organizationId: r.organization_id,
    orgSlug: r.slug,
    partnerId: r.partner_id,
    keyHash: r.key_hash,
    vhost: r.vhost,
    isActive: r.is_active,
    expiresAt: r.expires_at,
    scopes: r.scopes,
    allowedIps: r.allowed_ips,
    allowedPlantIds: r.allowed_plant_ids,
    legacyScopeExpansion: r.legacy_scope_expansion,
    connected: r.connected_at !== null,
    probeUntil: r.probe_until,
    probeIps: r.probe_ips,
  };
}

function selectKeys(sql: Sql, where: PendingQuery<Row[]>) {
  return sql<Row[]>`
    SELECT k.id, k.organization_id, o.slug, k.partner_id, k.key_hash, k.vhost, k.is_active, k.expires_at,
           k.scopes, k.allowed_ips, k.allowed_plant_ids, k.legacy_scope_expansion, k.connected_at, k.probe_until, k.probe_ips
    FROM api_keys k JOIN organizations o ON o.id = k.organization_id
    WHERE ${where}`;
}

/** The key and its organization's slug, for the one row `where` picks. */
async function findKey(sql: Sql, where: PendingQuery<Row[]>): Promise<AuthKeyRow | undefined> {
  const rows = await selectKeys(sql, where);
  return rows[0] && toFields(rows[0]);
}

const ACTIVE = (sql: Sql) => sql<Row[]>`k.is_active AND (k.expires_at IS NULL OR k.expires_at > now())`;

/** Every active, unexpired key, streamed in batches (one snapshot: a single statement). */
export async function loadActiveKeys(sql: Sql, onRows: (rows: AuthKeyRow[]) => void, batch = 10_000): Promise<void> {
  await selectKeys(sql, ACTIVE(sql)).cursor(batch, (rows) => {
    onRows(rows.map(toFields));
  });
}

/** The active keys of one organization (its slug changed). */
export async function findActiveKeysOfOrganization(sql: Sql, organizationId: string): Promise<AuthKeyRow[]> {
  const rows = await selectKeys(sql, sql<Row[]>`k.organization_id = ${organizationId} AND ${ACTIVE(sql)}`);
  return rows.map(toFields);
}

/** All candidate hashes in one query; at most one row can match (key_hash is unique). */
export function findKeyByHashes(sql: Sql, hashes: readonly string[]): Promise<AuthKeyRow | undefined> {
  return findKey(sql, sql`k.key_hash = ANY(${hashes as string[]})`);
}

export function findKeyById(sql: Sql, id: string): Promise<AuthKeyRow | undefined> {
  return findKey(sql, sql`k.id = ${id}`);
}

/** A key found under a legacy hash (plain SHA-256 or an older pepper) is re-stored under the current one. */
export async function rewriteKeyHash(sql: Sql, id: string, from: string, to: string): Promise<void> {
  await sql`UPDATE api_keys SET key_hash = ${to} WHERE id = ${id} AND key_hash = ${from}`;
}
