// A presented secret (the broker's password, a REST X-API-Key) to its key: the one lookup both
// share. Keys in our format with a bad checksum and over-long secrets are refused before any
// hashing; otherwise the current-pepper hash is looked up in the table (synchronous, the common
// case), and a miss goes on as KeyTable.loginMiss says (older peppers, legacy SHA-256, bounded
// database reads). The plaintext is only ever hashed here, never kept.
import { classifyKey } from '../keys/format.js';
import type { KeyHasher } from '../keys/hash.js';
import type { KeyRecord } from '../policy/key.js';
import { type KeyTable, LOOKUP_FAILED, type Lookup } from './key-table.js';

/** The secret cannot be a key (empty, too long, our format with a bad checksum): not looked up. */
export const MALFORMED_KEY = 'malformed';

export interface FindKeyDeps {
  table: KeyTable;
  hasher: KeyHasher;
  metrics: { cacheHit: { inc(): void }; cacheMiss: { inc(): void } };
}

/** A lookup that failed (database down, miss budget spent) finds nothing: deny, as for no key. */
function resolved(lookup: Lookup): KeyRecord | undefined {
  return lookup === LOOKUP_FAILED ? undefined : lookup;
}

/**
 * The key stored under the secret's hash (active or not: a revoked or expired key read from the
 * database comes back for its reason), undefined for none, now or (after a miss) later.
 */
export function findKeyBySecret(deps: FindKeyDeps, secret: string): KeyRecord | undefined | typeof MALFORMED_KEY | Promise<KeyRecord | undefined> {
  const shape = secret === '' ? 'too-long' : classifyKey(secret);
  if (shape === 'too-long' || shape === 'bad-checksum') return MALFORMED_KEY;
  const hash = deps.hasher.current(secret);
  const key = deps.table.byHash(hash);
  if (key !== undefined) {
    deps.metrics.cacheHit.inc();
    return key;
  }
  deps.metrics.cacheMiss.inc();
  const found = deps.table.loginMiss(hash, () => deps.hasher.candidates(secret, hash));
  return found instanceof Promise ? found.then(resolved) : resolved(found);
}
