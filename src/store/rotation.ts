// Rotation in place (migrations/008): the key's new secret replaces its current one, which becomes
// the previous secret until the overlap ends; and the close-outs owed to the broker afterwards
// (api_key_closeouts), claimed by the reconciler (src/broker/rotation-closeout.ts).
import type { BrokerConnection } from '../broker/management.js';
import type { Queryable } from './queryable.js';

export interface NewSecret {
  keyHash: string;
  keyPrefix: string;
}

export type RotateApiKeyResult =
  | {
      outcome: 'rotated';
      vhost: string | null;
      generation: number;
      previousKeyPrefix: string;
      previousKeyExpiresAt: Date;
      rotatedAt: Date;
      /** Whether an older previous secret was still valid and was ended by this rotation. */
      endedOlderOverlap: boolean;
    }
  | { outcome: 'not-found' }
  | { outcome: 'revoked' }
  | { outcome: 'expired' };

/**
 * Rotates one key of an organization in the caller's transaction (row locked first): the current
 * secret becomes the previous one until now + overlapSeconds (an older previous secret is
 * dropped), the new one current, the generation +1. With a vhost, the close-outs are recorded:
 * at the overlap's end (keep the new secret's connections only) and, when this rotation ended
 * an older overlap early or one was still being closed, now (keep the two valid secrets' only).
 * `closeoutWindowMs`: how long each close-out keeps passing after it is due.
 */
export async function rotateApiKey(
  tx: Queryable,
  organizationId: string,
  id: string,
  secret: NewSecret,
  overlapSeconds: number,
  closeoutWindowMs: number,
): Promise<RotateApiKeyResult> {
  const [row] = await tx<{ isActive: boolean; expired: boolean; vhost: string | null; rotatedAt: Date | null; inOverlap: boolean; closing: boolean }[]>`
    SELECT is_active, coalesce(expires_at <= now(), false) AS expired, vhost, rotated_at,
           coalesce(previous_key_expires_at > now(), false) AS in_overlap,
           EXISTS (SELECT 1 FROM api_key_closeouts c WHERE c.api_key_id = k.id AND c.done_at IS NULL AND c.due_at <= now()) AS closing
    FROM api_keys k
    WHERE id = ${id} AND organization_id = ${organizationId}
    FOR UPDATE`;
  if (!row) return { outcome: 'not-found' };
  if (!row.isActive) return { outcome: 'revoked' };
  if (row.expired) return { outcome: 'expired' };
  const [rotated] = await tx<{ keyGeneration: number; previousKeyPrefix: string; previousKeyExpiresAt: Date; rotatedAt: Date }[]>`
    UPDATE api_keys
    SET previous_key_hash = key_hash,
        previous_key_prefix = key_prefix,
        previous_key_expires_at = now() + ${overlapSeconds}::int * interval '1 second',
        key_hash = ${secret.keyHash},
        key_prefix = ${secret.keyPrefix},
        key_generation = key_generation + 1,
        rotated_at = now(),
        updated_at = now()
    WHERE id = ${id}
    RETURNING key_generation, previous_key_prefix, previous_key_expires_at, rotated_at`;
  const r = rotated!;
  const endedOlderOverlap = row.inOverlap;
  if (row.vhost !== null) {
    // Superseded: what they would close, the close-outs below close too.
    await tx`DELETE FROM api_key_closeouts WHERE api_key_id = ${id} AND done_at IS NULL`;
    if ((row.inOverlap || row.closing) && row.rotatedAt !== null && overlapSeconds > 0) {
      await insertCloseout(tx, id, r.keyGeneration - 1, row.rotatedAt, r.rotatedAt, closeoutWindowMs);
    }
    await insertCloseout(tx, id, r.keyGeneration, r.rotatedAt, r.previousKeyExpiresAt, closeoutWindowMs);
  }
  return {
    outcome: 'rotated',
    vhost: row.vhost,
    generation: r.keyGeneration,
    previousKeyPrefix: r.previousKeyPrefix,
    previousKeyExpiresAt: r.previousKeyExpiresAt,
    rotatedAt: r.rotatedAt,
    endedOlderOverlap,
  };
}

async function insertCloseout(tx: Queryable, keyId: string, keepFrom: number, createdAt: Date, dueAt: Date, windowMs: number): Promise<void> {
  await tx`
    INSERT INTO api_key_closeouts (api_key_id, keep_from_generation, generation_created_at, due_at, until_at)
    VALUES (${keyId}, ${keepFrom}, ${createdAt}, ${dueAt}, ${dueAt}::timestamptz + ${windowMs}::int * interval '1 millisecond')`;
}

export interface DueCloseout {
  id: string;
  keyId: string;
  /** null: the key has no vhost any more or was revoked (its vhost deletion closes everything). */
  vhost: string | null;
  keepFromGeneration: number;
  generationCreatedAt: Date;
  untilAt: Date;
  /** Connections earlier passes listed (closed since or not). */
  seen: BrokerConnection[];
  /** The database's clock when claimed. */
  now: Date;
}

/**
 * Claims due close-outs (FOR UPDATE SKIP LOCKED: several instances share them). The one at an
 * overlap's end is due at previous_key_expires_at as it is now: an overlap ended early in SQL
 * (`UPDATE api_keys SET previous_key_expires_at = now()`) brings it forward, and its passes end
 * the same time after.
 */
export async function claimDueCloseouts(tx: Queryable, limit: number): Promise<DueCloseout[]> {
  const rows = await tx<
    {
      id: string;
      apiKeyId: string;
      vhost: string | null;
      isActive: boolean;
      keepFromGeneration: number;
      generationCreatedAt: Date;
      untilAt: Date;
      seenConnections: BrokerConnection[];
      now: Date;
    }[]
  >`
    SELECT c.id, c.api_key_id, k.vhost, k.is_active, c.keep_from_generation, c.generation_created_at,
           d.due + (c.until_at - c.due_at) AS until_at, c.seen_connections, now() AS now
    FROM api_key_closeouts c JOIN api_keys k ON k.id = c.api_key_id
    CROSS JOIN LATERAL (
      SELECT CASE WHEN c.keep_from_generation = k.key_generation AND k.previous_key_expires_at < c.due_at
                  THEN k.previous_key_expires_at ELSE c.due_at END AS due
    ) d
    WHERE c.done_at IS NULL AND d.due <= now()
    ORDER BY d.due
    LIMIT ${limit}
    FOR UPDATE OF c SKIP LOCKED`;
  return rows.map((r) => ({
    id: r.id,
    keyId: r.apiKeyId,
    vhost: r.isActive ? r.vhost : null,
    keepFromGeneration: r.keepFromGeneration,
    generationCreatedAt: r.generationCreatedAt,
    untilAt: r.untilAt,
    seen: r.seenConnections,
    now: r.now,
  }));
}

/** One pass done: `closed` more connections, `seen` all listed so far; finished once a pass ran at or after `untilAt` (claimDueCloseouts). */
export async function markCloseoutPass(tx: Queryable, id: string, closed: number, seen: readonly BrokerConnection[], untilAt: Date): Promise<void> {
  await tx`
    UPDATE api_key_closeouts
    SET last_pass_at = now(), closed = closed + ${closed}, seen_connections = ${tx.json(seen as never)},
        done_at = CASE WHEN now() >= ${untilAt} THEN now() END
    WHERE id = ${id}`;
}

/** Nothing to close any more (key revoked: its vhost deletion closes everything). */
export async function finishCloseout(tx: Queryable, id: string): Promise<void> {
  await tx`UPDATE api_key_closeouts SET done_at = now() WHERE id = ${id}`;
}
