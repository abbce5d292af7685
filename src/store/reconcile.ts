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
 * LOCKED: several instances may run it. Legacy keys stay due for 10 s after their first pass
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

/**
 * Records that a key's broker access was removed. A legacy key's is set 10 s ahead: the
 * management API lists a connection only after its first stats tick (~5 s), so its
 * connections are closed again on every pass until then.
 */
export async function markKeyDeprovisioned(tx: Queryable, key: KeyToDeprovision): Promise<void> {
  await tx`
    UPDATE api_keys
    SET deprovisioned_at = coalesce(deprovisioned_at, now() + ${key.vhost === null ? '10 seconds' : '0 seconds'}::interval)
    WHERE id = ${key.id}`;
}
