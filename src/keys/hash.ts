import * as crypto from 'node:crypto';

const { createHash, createHmac } = crypto;

/** SHA-256's block size: an HMAC key is padded (or first hashed) to it. */
const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;

/**
 * HMAC-SHA256 under one key (RFC 2104: H((K ^ opad) || H((K ^ ipad) || m))) from two one-shot
 * `crypto.hash` calls (Node ≥ 20.12) into buffers kept for the purpose: createHmac builds an
 * object, a key schedule and a digest per call, about 1 µs more, and every REST request hashes
 * its X-API-Key. test/keys.test.ts holds it to createHmac. The bytes of the message are zeroed in
 * the kept buffer once hashed.
 */
class HmacSha256 {
  /** (K ^ ipad), then the message (up to `maxMessageBytes`; longer messages take createHmac). */
  private readonly inner: Buffer;
  /** (K ^ opad), then the inner digest. */
  private readonly outer = Buffer.alloc(BLOCK_BYTES + DIGEST_BYTES);

  constructor(
    private readonly key: Buffer,
    maxMessageBytes: number,
  ) {
    const k = key.length > BLOCK_BYTES ? createHash('sha256').update(key).digest() : key;
    this.inner = Buffer.alloc(BLOCK_BYTES + maxMessageBytes);
    for (let i = 0; i < BLOCK_BYTES; i++) {
      const byte = i < k.length ? k[i]! : 0;
      this.inner[i] = byte ^ 0x36;
      this.outer[i] = byte ^ 0x5c;
    }
  }

  hex(message: string): string {
    const end = BLOCK_BYTES + Buffer.byteLength(message, 'utf8');
    if (crypto.hash === undefined || end > this.inner.length) return createHmac('sha256', this.key).update(message, 'utf8').digest('hex');
    this.inner.write(message, BLOCK_BYTES, 'utf8');
    const innerDigest = crypto.hash('sha256', this.inner.subarray(0, end), 'buffer');
    this.inner.fill(0, BLOCK_BYTES, end);
    innerDigest.copy(this.outer, BLOCK_BYTES);
    return crypto.hash('sha256', this.outer, 'hex');
  }
}

/** Presented keys longer than this are refused before hashing (keys/format.ts MAX_PASSWORD_BYTES); room for them all. */
const MAX_HASHED_BYTES = 1024;

/**
 * Stored key hashes (hex). The first pepper is current; older peppers and plain SHA-256 (keys
 * from before any pepper) are only tried on a cache miss, and a hit on them is rewritten.
 */
export class KeyHasher {
  private readonly hmacs: readonly HmacSha256[];

  constructor(peppers: readonly Buffer[]) {
    if (peppers.length === 0) throw new Error('at least one API key pepper is required');
    this.hmacs = peppers.map((pepper) => new HmacSha256(pepper, MAX_HASHED_BYTES));
  }

  /** The hash new keys are stored under, and the cache key for a presented key. */
  current(key: string): string {
    return this.hmacs[0]!.hex(key);
  }

  /** The HMAC of `value` under every pepper, current first. */
  peppered(value: string, currentHash = this.current(value)): string[] {
    const out = [currentHash];
    for (let i = 1; i < this.hmacs.length; i++) out.push(this.hmacs[i]!.hex(value));
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
