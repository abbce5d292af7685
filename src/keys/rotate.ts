// Rotation in place: a key gets a new secret and keeps its id, vhost (with its queues and their
// backlog), scopes, allowlist and signing key. The previous secret stays valid for the overlap;
// the rotation and its `api_key.rotated` audit row are one transaction. The broker side needs no
// call here: the new secret logs in through the same vhost and permissions, and the connections
// of secrets that are no longer valid are closed by the reconciler's close-outs
// (src/broker/rotation-closeout.ts), on whichever instance claims them.

import { CLOSEOUT_PASSES_MS } from '../broker/rotation-closeout.js';
import { getApiKey } from '../store/api-keys.js';
import type { Sql } from '../store/db.js';
import { rotateApiKey } from '../store/rotation.js';
import type { ApiKeyView } from '../store/rows.js';
import { displayPrefix, generateApiKey } from './format.js';
import type { KeyHasher } from './hash.js';
import { type Actor, recordKeyEvent } from './lifecycle.js';

export interface RotateContext {
  sql: Sql;
  hasher: KeyHasher;
  /** The broker's auth cache TTL (0 without it): close-outs keep passing that much longer. */
  authCacheTtlMs: number;
}

export type RotateOutcome =
  | { outcome: 'rotated'; key: string; apiKey: ApiKeyView; previousKeyExpiresAt: Date; endedOlderOverlap: boolean }
  | { outcome: 'not-found' }
  | { outcome: 'revoked' }
  | { outcome: 'expired' };

export async function rotateKey(ctx: RotateContext, actor: Actor, organizationId: string, id: string, overlapSeconds: number): Promise<RotateOutcome> {
  const key = generateApiKey();
  const secret = { keyHash: ctx.hasher.current(key), keyPrefix: displayPrefix(key) };
  return ctx.sql.begin(async (tx) => {
    const r = await rotateApiKey(tx, organizationId, id, secret, overlapSeconds, CLOSEOUT_PASSES_MS + Math.max(0, ctx.authCacheTtlMs));
    if (r.outcome !== 'rotated') return r;
    await recordKeyEvent(tx, actor, {
      type: 'api_key.rotated',
      organizationId,
      apiKeyId: id,
      details: {
        previousKeyPrefix: r.previousKeyPrefix,
        keyPrefix: secret.keyPrefix,
        previousKeyExpiresAt: r.previousKeyExpiresAt.toISOString(),
        overlapSeconds,
        generation: r.generation,
        endedOlderOverlap: r.endedOlderOverlap,
      },
    });
    const apiKey = (await getApiKey(tx, organizationId, id))!;
    return { outcome: 'rotated', key, apiKey, previousKeyExpiresAt: r.previousKeyExpiresAt, endedOlderOverlap: r.endedOlderOverlap };
  });
}
