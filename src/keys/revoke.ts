// Revoking one key: the transition and its audit row (lifecycle.ts), this instance's cache, then
// the broker side — its vhost deleted, which closes its open connections.
import { errorForLog } from '../secrets.js';
import { type ChangeResult, markDeprovisioned } from '../store/api-keys.js';
import type { KeyDeps } from './deps.js';
import { type Actor, transitionKey } from './lifecycle.js';

/** Revokes the key once (repeats are 'unchanged'); 'not-found' for a key of another organization. */
export async function revokeKey(deps: KeyDeps, actor: Actor, organizationId: string, id: string): Promise<ChangeResult> {
  const result = await transitionKey(deps.sql, actor, organizationId, id, 'revoke');
  if (result.outcome === 'not-found') return result;
  deps.evictKey?.(id);
  if (result.outcome === 'changed') {
    deps.log.info({ apiKeyId: id, organizationId, actorId: actor.user.id }, 'api key revoked');
    if (result.vhost !== null) await closeBrokerAccess(deps, id, result.vhost);
  }
  return result;
}

/**
 * Revocation denies the key's next broker check at once; its open connections are closed by
 * deleting its vhost. Best effort here: the reconciler retries what fails (deprovisioned_at).
 */
async function closeBrokerAccess(deps: KeyDeps, id: string, vhost: string): Promise<void> {
  if (deps.broker === undefined) return;
  try {
    await deps.broker.deprovisionVhost(vhost, 'API key revoked');
    await markDeprovisioned(deps.sql, id);
  } catch (err) {
    deps.log.warn({ apiKeyId: id, vhost, reason: errorForLog(err).message }, 'deprovisioning a revoked key failed; the reconciler will retry');
  }
}
