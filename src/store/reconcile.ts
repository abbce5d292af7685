// The reconciler's reads and writes (src/broker/reconciler.ts): keys whose broker access must go.
import type { Queryable } from './queryable.js';

export interface KeyToDeprovision {
  id: string;
  /** null: a legacy key on the shared "/" vhost (its connections are closed, no vhost deleted). */
  vhost: string | null;
  slug: string;
}

/**
 * Claims up to `limit` keys that are unusable for good — keyUsable's 'inactive' or 'expired'
 * (keys/usable.ts), here in SQL — and whose broker access is not yet removed. FOR UPDATE SKIP
 * LOCKED: several instances may run it. Legacy keys stay due for a while after their first pass
 * (see markKeyDeprovisioned).
 */
export function claimKeysToDeprovision(tx: Queryable, limit: number): Promise<KeyToDeprovision[]> {
  return tx<KeyToDeprovision[]>`
    SELECT k.id, k.vhost, o.slug
    FROM api_keys k JOIN organizations o ON o.id = k.organization_id
    WHERE (k.deprovisioned_at IS NULL OR (k.vhost IS NULL AND k.deprovisioned_at > now()))
      AND (NOT k.is_active OR (k.expires_at IS NOT NULL AND k.expires_at <= now()))
    ORDER BY k.id
    LIMIT ${limit}
    FOR UPDATE OF k SKIP LOCKED`;
}

/** How long a legacy key's connections on "/" keep being closed after its first pass. */
export function legacyCloseWindowMs(authCacheTtlMs: number): number {
  // The management API lists a connection only after its first stats tick (~5 s); with the
  // broker's auth cache a revoked legacy key can still reconnect from it for up to the TTL.
  return 10_000 + Math.max(0, authCacheTtlMs);
}

/**
 * Records that a key's broker access was removed. A legacy key's is set legacyCloseWindowMs
 * ahead, so its connections on "/" are closed again on every pass until then.
 */
export async function markKeyDeprovisioned(tx: Queryable, key: KeyToDeprovision, authCacheTtlMs = 0): Promise<void> {
  const aheadMs = key.vhost === null ? legacyCloseWindowMs(authCacheTtlMs) : 0;
  await tx`
    UPDATE api_keys
    SET deprovisioned_at = coalesce(deprovisioned_at, now() + ${aheadMs}::int * interval '1 millisecond')
    WHERE id = ${key.id}`;
}

export interface DeprovisioningBacklog {
  /** Revoked or expired keys whose vhost is not deleted yet (legacy "/" keys not counted). */
  pending: number;
  /** Since when the oldest of them is unusable (revoked_at, expires_at or, for SQL revokes, updated_at). */
  oldestSince: Date | null;
}

/** What the reconciler still owes: shown in /metrics and /readyz until it is done. */
export async function deprovisioningBacklog(sql: Queryable): Promise<DeprovisioningBacklog> {
  const [row] = await sql<{ pending: number; oldestSince: Date | null }[]>`
    SELECT count(*)::int AS pending,
           min(CASE WHEN NOT k.is_active THEN coalesce(k.revoked_at, k.updated_at)
                    ELSE k.expires_at END) AS oldest_since
    FROM api_keys k
    WHERE k.deprovisioned_at IS NULL AND k.vhost IS NOT NULL
      AND (NOT k.is_active OR (k.expires_at IS NOT NULL AND k.expires_at <= now()))`;
  return { pending: row?.pending ?? 0, oldestSince: row?.oldestSince ?? null };
}
