// Admin-side access to api_keys (the hot path's lookups are in auth-keys.ts).
import type { Queryable } from './queryable.js';
import { type ApiKeyRow, type ApiKeyView, type Page, type PageRequest, selectPage, toApiKey } from './rows.js';

/** What the mint inserts (the hash, never the key; the signing key encrypted). */
export interface NewApiKey {
  id: string;
  organizationId: string;
  keyHash: string;
  keyPrefix: string;
  name: string;
  partnerId: string;
  scopes: string[];
  allowedIps: string[];
  allowedPlantIds: string[] | null;
  /** null for a key without a connect scope: no vhost, nothing ever to deprovision. */
  vhost: string | null;
  expiresAt: Date | null;
  signingKeyEnc: Buffer | null;
  createdBy: string;
  /** The type of the partner queues its vhost is provisioned with; null or absent without a vhost or a broker. */
  queueType?: 'classic' | 'quorum' | null;
}

/** An api_keys row with its creator: the columns ApiKeyRow holds. */
export const keyColumns = (sql: Queryable) => sql`
  k.id, k.key_prefix, k.name, k.partner_id, k.scopes, k.allowed_ips, k.vhost, k.is_active,
  k.expires_at, k.last_used_at, k.created_by, k.organization_id, k.created_at, k.updated_at,
  u.id AS creator_id, u.email AS creator_email, u.name AS creator_name, u.role AS creator_role,
  u.created_at AS creator_created_at, u.updated_at AS creator_updated_at,
  CASE WHEN k.previous_key_expires_at > now() THEN k.previous_key_prefix END AS previous_key_prefix,
  CASE WHEN k.previous_key_expires_at > now() THEN k.previous_key_expires_at END AS previous_key_expires_at,
  k.rotated_at`;
const keysOfOrg = (sql: Queryable, organizationId: string) => sql`
  FROM api_keys k LEFT JOIN users u ON u.id = k.created_by
  WHERE k.organization_id = ${organizationId}`;

/** Inserts a new key (never legacy-expanded); the caller's transaction also writes the audit row. */
export async function insertApiKey(tx: Queryable, k: NewApiKey): Promise<void> {
  const row = { ...k, queueType: k.queueType ?? null, legacyScopeExpansion: false, deprovisionedAt: k.vhost === null ? tx`now()` : null };
  await tx`INSERT INTO api_keys ${tx(row, NEW_KEY_COLUMNS)}`;
}

/** The type of a key's partner queues (migration 008); null without a vhost of its own. */
export async function getKeyQueueType(sql: Queryable, id: string): Promise<'classic' | 'quorum' | null> {
  const [row] = await sql<{ queueType: 'classic' | 'quorum' | null }[]>`SELECT queue_type FROM api_keys WHERE id = ${id}`;
  return row?.queueType ?? null;
}

const NEW_KEY_COLUMNS = [
  'id',
  'organizationId',
  'keyHash',
  'keyPrefix',
  'name',
  'partnerId',
  'scopes',
  'allowedIps',
  'allowedPlantIds',
  'vhost',
  'expiresAt',
  'signingKeyEnc',
  'createdBy',
  'legacyScopeExpansion',
  'deprovisionedAt',
  'queueType',
] as const;

export async function getApiKey(sql: Queryable, organizationId: string, id: string): Promise<ApiKeyView | undefined> {
  const [row] = await sql<ApiKeyRow[]>`SELECT ${keyColumns(sql)} ${keysOfOrg(sql, organizationId)} AND k.id = ${id}`;
  return row && toApiKey(row);
}

/** Newest first. */
export function listApiKeys(sql: Queryable, organizationId: string, page: PageRequest): Promise<Page<ApiKeyView>> {
  const query = { columns: keyColumns(sql), from: keysOfOrg(sql, organizationId), orderBy: sql`k.created_at DESC, k.id DESC` };
  return selectPage(sql, query, page, toApiKey);
}

export type ChangeResult = { outcome: 'changed' | 'unchanged'; vhost: string | null; revokedAt: Date | null } | { outcome: 'not-found' };

export type KeyTransition = 'revoke' | 'acknowledge';

/**
 * One transition, once. revoke: is_active = false and revoked_at set (a key deactivated by plain
 * SQL, without revoked_at, gets its revoked_at now; one already revoked is left as it is).
 * acknowledge: acknowledged_at set the first time only.
 */
export async function transitionApiKey(tx: Queryable, organizationId: string, id: string, transition: KeyTransition): Promise<ChangeResult> {
  const [row] =
    transition === 'revoke'
      ? await tx<TransitionRow[]>`
          UPDATE api_keys SET is_active = false, revoked_at = now(), updated_at = now()
          WHERE id = ${id} AND organization_id = ${organizationId} AND revoked_at IS NULL
          RETURNING vhost, revoked_at`
      : await tx<TransitionRow[]>`
          UPDATE api_keys SET acknowledged_at = now()
          WHERE id = ${id} AND organization_id = ${organizationId} AND acknowledged_at IS NULL
          RETURNING vhost, revoked_at`;
  if (row) return { outcome: 'changed', vhost: row.vhost, revokedAt: row.revokedAt };
  return unchangedOrMissing(tx, organizationId, id);
}

/**
 * Opens the probe window (migrations/006): until `until`, logins from `ips` pass the key's
 * vhost check. A later window replaces an earlier one (same host, later end).
 */
export async function openProbeWindow(sql: Queryable, id: string, until: Date, ips: readonly string[]): Promise<void> {
  await sql`UPDATE api_keys SET probe_until = ${until}, probe_ips = ${ips as string[]}::text[] WHERE id = ${id}`;
}

/**
 * Ends the window opened until `until` at `at` (kept, not nulled: logins before it are the
 * probe's, see store/usage.ts), unless another probe opened a later one meanwhile.
 */
export async function closeProbeWindow(sql: Queryable, id: string, until: Date, at: Date): Promise<void> {
  await sql`UPDATE api_keys SET probe_until = ${at}, probe_ips = '{}' WHERE id = ${id} AND probe_until = ${until}`;
}

/** What PATCH may change; undefined = leave as is. */
export interface KeyEdit {
  name?: string;
  allowedIps?: string[];
}

/** What an edit changed, field by field (only the fields whose value differs). */
export interface KeyChanges {
  name?: { before: string; after: string };
  allowedIps?: { before: string[]; after: string[] };
}

export type EditResult =
  | { outcome: 'updated'; changes: KeyChanges; vhost: string | null }
  | { outcome: 'unchanged' }
  | { outcome: 'revoked' }
  | { outcome: 'not-found' };

/**
 * Edits a key's name and allowlist in the caller's transaction. The row is locked first, so
 * the before → after the audit records is exactly what changed. A revoked key is not edited.
 */
export async function editApiKey(tx: Queryable, organizationId: string, id: string, edit: KeyEdit): Promise<EditResult> {
  const [row] = await tx<{ name: string; allowedIps: string[]; vhost: string | null; isActive: boolean }[]>`
    SELECT name, allowed_ips, vhost, is_active FROM api_keys
    WHERE id = ${id} AND organization_id = ${organizationId}
    FOR UPDATE`;
  if (!row) return { outcome: 'not-found' };
  if (!row.isActive) return { outcome: 'revoked' };
  const changes: KeyChanges = {};
  if (edit.name !== undefined && edit.name !== row.name) changes.name = { before: row.name, after: edit.name };
  const ips = edit.allowedIps;
  if (ips !== undefined && (ips.length !== row.allowedIps.length || ips.some((ip, i) => ip !== row.allowedIps[i]))) {
    changes.allowedIps = { before: row.allowedIps, after: [...ips] };
  }
  if (changes.name === undefined && changes.allowedIps === undefined) return { outcome: 'unchanged' };
  await tx`
    UPDATE api_keys SET name = ${changes.name?.after ?? row.name}, allowed_ips = ${changes.allowedIps?.after ?? row.allowedIps}::text[], updated_at = now()
    WHERE id = ${id}`;
  return { outcome: 'updated', changes, vhost: row.vhost };
}

type TransitionRow = { vhost: string | null; revokedAt: Date | null };

async function unchangedOrMissing(sql: Queryable, organizationId: string, id: string): Promise<ChangeResult> {
  const [row] = await sql<TransitionRow[]>`SELECT vhost, revoked_at FROM api_keys WHERE id = ${id} AND organization_id = ${organizationId}`;
  return row ? { outcome: 'unchanged', vhost: row.vhost, revokedAt: row.revokedAt } : { outcome: 'not-found' };
}

/** Bookkeeping after the broker vhost of a revoked key was removed (no cache NOTIFY). */
export async function markDeprovisioned(sql: Queryable, id: string): Promise<void> {
  await sql`UPDATE api_keys SET deprovisioned_at = now() WHERE id = ${id} AND deprovisioned_at IS NULL`;
}

/** Undo of a mint whose broker self-test failed. */
export async function deleteApiKey(sql: Queryable, id: string): Promise<void> {
  await sql`DELETE FROM api_keys WHERE id = ${id}`;
}
