import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { classifyKey, displayPrefix, generateApiKey, KEY_LENGTH } from '../src/keys/format.js';
import { KeyHasher, plainSha256 } from '../src/keys/hash.js';
import { decryptSigningKey, encryptSigningKey, generateSigningKey } from '../src/keys/signing.js';

describe('key format', () => {
  it('generates voke_ + 40 base62 + 6-char checksum that validates', () => {
    const keys = new Set(Array.from({ length: 200 }, generateApiKey));
    expect(keys.size).toBe(200);
    for (const k of keys) {
      expect(k).toMatch(/^voke_[0-9A-Za-z]{46}$/);
      expect(k.length).toBe(KEY_LENGTH);
      expect(classifyKey(k)).toBe('current');
    }
  });

  it('detects any single-character change as a bad checksum', () => {
    const k = generateApiKey();
    for (const i of [5, 20, 44, 45, 50]) {
      const c = k[i] === 'a' ? 'b' : 'a';
      expect(classifyKey(k.slice(0, i) + c + k.slice(i + 1))).toBe('bad-checksum');
    }
  });

  it('treats other formats as legacy and long passwords as too long', () => {
    expect(classifyKey('some-old-key')).toBe('legacy');
    expect(classifyKey('voke_short')).toBe('legacy');
    expect(classifyKey(`voke_${'a'.repeat(45)}!`)).toBe('legacy');
    expect(classifyKey('x'.repeat(512))).toBe('legacy');
    expect(classifyKey('x'.repeat(513))).toBe('too-long');
    expect(classifyKey('é'.repeat(257))).toBe('too-long'); // bytes, not characters
  });

  it('shows a 9-character prefix', () => {
    expect(displayPrefix('voke_a1b2c3d4')).toBe('voke_a1b2');
  });
});

describe('key hashing', () => {
  const current = Buffer.from('pepper-2');
  const old = Buffer.from('pepper-1');
  it('uses HMAC with the current pepper, then older peppers, then plain SHA-256', () => {
    const h = new KeyHasher([current, old]);
    const k = generateApiKey();
    const candidates = h.candidates(k);
    expect(candidates).toHaveLength(3);
    expect(candidates[0]).toBe(h.current(k));
    expect(candidates[1]).toBe(new KeyHasher([old]).current(k));
    expect(candidates[2]).toBe(plainSha256(k));
    expect(new Set(candidates).size).toBe(3);
    expect(candidates.join()).not.toContain(k);
  });

  it('is HMAC-SHA256 exactly as node:crypto computes it, for any pepper and key', () => {
    const hmac = (pepper: Buffer, key: string) => createHmac('sha256', pepper).update(key, 'utf8').digest('hex');
    // Peppers shorter than, equal to and longer than SHA-256's 64-byte block (a longer one is hashed first).
    const peppers = [Buffer.alloc(0), Buffer.from('p'), randomBytes(32), randomBytes(64), randomBytes(65), randomBytes(200)];
    // Keys: ours, legacy shapes, UTF-8, empty, up to and past the 1 KiB the kept buffer holds.
    const keys = [generateApiKey(), 'legacy-key', 'ключ-🔑', '', 'x'.repeat(512), 'é'.repeat(512), 'y'.repeat(1025), `${'z'.repeat(1023)}é`];
    for (const pepper of peppers) {
      const h = new KeyHasher([pepper]);
      for (const key of keys) expect(h.current(key)).toBe(hmac(pepper, key));
      // A long key then a short one: no byte of the first is left in the second's input.
      expect(h.current('a'.repeat(300))).toBe(hmac(pepper, 'a'.repeat(300)));
      expect(h.current('b')).toBe(hmac(pepper, 'b'));
    }
    for (let i = 0; i < 200; i++) {
      const pepper = randomBytes(1 + (i % 90));
      const key = randomBytes(i % 70).toString('base64url');
      expect(new KeyHasher([pepper]).current(key)).toBe(hmac(pepper, key));
    }
  });
});

describe('signing keys', () => {
  it('are 64 hex chars and round-trip through AES-256-GCM', () => {
    const enc = randomBytes(32);
    const s = generateSigningKey();
    expect(s).toMatch(/^[0-9a-f]{64}$/);
    const stored = encryptSigningKey(s, enc);
    expect(stored.toString('latin1')).not.toContain(s);
    expect(decryptSigningKey(stored, enc)).toBe(s);
    expect(() => decryptSigningKey(stored, randomBytes(32))).toThrow();
  });
});
