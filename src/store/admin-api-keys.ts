// Super-admin access to api_keys across organizations: the search, the lookup of leaked keys by
// their hashes, and the insert of imported legacy keys. (One organization's keys: api-keys.ts.)
import { keyColumns, type NewApiKey } from './api-keys.js';
import type { Queryable } from './queryable.js';
import { type ApiKeyView, type Page, type PageRequest, selectPage, toApiKey } from './rows.js';

export interface ApiKeySearch {
  id?: string | undefined;
  /** Keys whose key_prefix starts with this (a literal: `_` and `%` are not wildcards). */
  prefix?: string | undefined;
  partnerId?: string | undefined;
  organizationId?: string | undefined;
  isActive?: boolean | undefined;
}

/** Keys of every organization, newest first; each filter given narrows the search. */
export function searchApiKeys(sql: Queryable, f: ApiKeySearch, page: PageRequest): Promise<Page<ApiKeyView>> {
  const from = sql`
    FROM api_keys k LEFT JOIN users u ON u.id = k.created_by
    WHERE true
    ${f.id === undefined ? sql`` : sql`AND k.id = ${f.id}`}
    ${f.prefix === undefined ? sql`` : sql`AND starts_with(k.key_prefix, ${f.prefix})`}
    ${f.partnerId === undefined ? sql`` : sql`AND k.partner_id = ${f.partnerId}`}
    ${f.organizationId === undefined ? sql`` : sql`AND k.organization_id = ${f.organizationId}`}
    ${f.isActive === undefined ? sql`` : sql`AND k.is_active = ${f.isActive}`}`;
  return selectPage(sql, { columns: keyColumns(sql), from, orderBy: sql`k.created_at DESC, k.id DESC` }, page, toApiKey);
}

/** What a leaked-key revocation reports about a key: never its hash. */
export interface KeyRef {
  id: string;
  keyPrefix: string;
  organizationId: string;
}

/**
 * The keys stored under any of `hashes` (one query), each with the hash it matched: a key's
 * current secret, or its previous one while that is still valid (a rotation's overlap).
 */
export async function findKeysByHashes(sql: Queryable, hashes: readonly string[]): Promise<(KeyRef & { keyHash: string })[]> {
  if (hashes.length === 0) return [];
  return sql<(KeyRef & { keyHash: string })[]>`
    SELECT id, key_prefix, organization_id,
           CASE WHEN key_hash = ANY(${hashes as string[]}) THEN key_hash ELSE previous_key_hash END AS key_hash
    FROM api_keys
    WHERE key_hash = ANY(${hashes as string[]})
       OR (previous_key_hash = ANY(${hashes as string[]}) AND previous_key_expires_at > now())`;
}

/**
 * A legacy key as the import stores it: what the mint stores, but on vhost "/" (vhost NULL), no
 * signing key, legacy scope expansion on, its original creation time, and `keyHash` the SHA-256
 * hex of the key, as a pre-pepper key is stored (the hot path re-peppers it at first login).
 */
export interface NewLegacyKey extends Omit<NewApiKey, 'vhost' | 'signingKeyEnc'> {
  /** HMAC(pepper, SHA-256 hex): remembers the import across that rewrite (migrations/007). */
  importFingerprint: string;
  createdAt: Date;
}

export interface ImportedKeyRef extends KeyRef {
  name: string;
}

/**
 * The key imported before under this SHA-256, if any: stored under it still, or under any
 * pepper's fingerprint of it (`fingerprints`, current pepper first).
 */
export async function findImportedKey(sql: Queryable, keyHash: string, fingerprints: readonly string[]): Promise<ImportedKeyRef | undefined> {
  const [row] = await sql<ImportedKeyRef[]>`
    SELECT id, key_prefix, organization_id, name
    FROM api_keys
    WHERE key_hash = ${keyHash} OR import_fingerprint = ANY(${fingerprints as string[]})
    LIMIT 1`;
  return row;
}

/**
 * Inserts a legacy key; false when its hash or fingerprint is already stored (a concurrent
 * import of the same key waits for the other's commit, then finds it here).
 */
export async function insertLegacyKey(tx: Queryable, k: NewLegacyKey): Promise<boolean> {
  const rows = await tx`
    INSERT INTO api_keys (id, organization_id, key_hash, import_fingerprint, key_prefix, name, partner_id, scopes,
                          allowed_ips, allowed_plant_ids, vhost, expires_at, created_by, created_at, updated_at,
                          legacy_scope_expansion)
    VALUES (${k.id}, ${k.organizationId}, ${k.keyHash}, ${k.importFingerprint}, ${k.keyPrefix}, ${k.name}, ${k.partnerId},
            ${k.scopes}::text[], ${k.allowedIps}::text[], ${k.allowedPlantIds}::uuid[], NULL, ${k.expiresAt},
            ${k.createdBy}, ${k.createdAt}, now(), true)
    ON CONFLICT DO NOTHING
    RETURNING id`;
  return rows.length === 1;
}

/** Organizations by slug (the import names them so); slugs not found are absent from the map. */
export async function organizationIdsBySlug(sql: Queryable, slugs: readonly string[]): Promise<Map<string, string>> {
  const rows = await sql<{ id: string; slug: string }[]>`SELECT id, slug FROM organizations WHERE slug = ANY(${slugs as string[]})`;
  return new Map(rows.map((r) => [r.slug, r.id]));
}
