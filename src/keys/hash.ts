import { createHash, createHmac } from 'node:crypto';

/**
 * Stored key hashes (hex). The first pepper is current; older peppers and plain SHA-256 (keys
 * from before any pepper) are only tried on a cache miss, and a hit on them is rewritten.
 */
export class KeyHasher {
  constructor(private readonly peppers: readonly Buffer[]) {
    if (peppers.length === 0) throw new Error('at least one API key pepper is required');
  }

  /** The hash new keys are stored under, and the cache key for a presented key. */
  current(key: string): string {
    return createHmac('sha256', this.peppers[0]!).update(key, 'utf8').digest('hex');
  }

  /** The HMAC of `value` under every pepper, current first. */
  peppered(value: string, currentHash = this.current(value)): string[] {
    const out = [currentHash];
    for (let i = 1; i < this.peppers.length; i++) {
      out.push(createHmac('sha256', this.peppers[i]!).update(value, 'utf8').digest('hex'));
    }
    return out;
  }

  /** Every hash a stored key could have: the peppered ones (current first), then plain SHA-256. */
  candidates(key: string, currentHash = this.current(key)): string[] {
    const out = this.peppered(key, currentHash);
    out.push(plainSha256(key));
    return out;
  }
}

export function plainSha256(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
