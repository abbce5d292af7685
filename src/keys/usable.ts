// Whether a key may be used right now, and why not: the one vocabulary of reasons, shared by the
// hot path (policy/decide.ts), REST forward auth and the verify API (policy/rest.ts),
// test-connection, the mint's self-test and the reconciler's SQL (store/reconcile.ts selects
// exactly the keys that are 'inactive' or 'expired' here). Pure.
import type { KeyRecord } from '../policy/key.js';

/** Why a found key may not be used (an unknown key is the caller's own reason). */
export type UnusableReason = 'inactive' | 'expired' | 'wrong_organization' | 'missing_connect_scope';

/** Not revoked and not expired: the check every use of a key starts with, broker or REST. */
export function keyLive(key: KeyRecord, now: number): 'allow' | 'inactive' | 'expired' {
  if (!key.isActive) return 'inactive';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  // A rotated key's previous secret past its overlap is refused like an expired key.
  if (key.secretExpiresAt !== null && key.secretExpiresAt <= now) return 'expired';
  return 'allow';
}

/** Valid on every broker call: live, the org the username names, may connect. */
export function keyUsable(key: KeyRecord, username: string, now: number): 'allow' | UnusableReason {
  const live = keyLive(key, now);
  if (live !== 'allow') return live;
  if (key.orgSlug !== username) return 'wrong_organization';
  if (!key.canConnect) return 'missing_connect_scope';
  return 'allow';
}

/** The reasons in words, for a person (test-connection's answer, the self-test's log line). */
export const UNUSABLE_MESSAGES: Record<UnusableReason, string> = {
  inactive: 'This API key is revoked',
  expired: 'This API key has expired',
  wrong_organization: 'This API key belongs to another organization',
  missing_connect_scope: 'This API key lacks vcp:connect (or trading:connect): the broker refuses its login',
};
