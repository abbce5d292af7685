import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

// voke_ + 40 random base62 chars + 6 base62 chars of CRC32 over everything before them.
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const KEY_PREFIX = 'voke_';
const RANDOM_LENGTH = 40;
const CHECKSUM_LENGTH = 6;
export const KEY_LENGTH = KEY_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
/** What the admin UI shows to tell keys apart: `voke_a1b2`. */
export const DISPLAY_PREFIX_LENGTH = 9;
/** Longer passwords are denied before hashing: a bound on the hot path's work per login. */
export const MAX_PASSWORD_BYTES = 512;

const BASE62_BODY = /^[0-9A-Za-z]+$/;

function base62(n: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function checksum(body: string): string {
  return base62(crc32(body), CHECKSUM_LENGTH);
}

export function generateApiKey(): string {
  let random = '';
  for (let i = 0; i < RANDOM_LENGTH; i++) random += ALPHABET[randomInt(62)];
  const body = KEY_PREFIX + random;
  return body + checksum(body);
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

export type KeyShape = 'current' | 'bad-checksum' | 'legacy' | 'too-long';

/**
 * Classifies a presented password without any I/O. `bad-checksum` and `too-long` are denied
 * before hashing; `legacy` (any other format) is hashed and looked up normally.
 */
export function classifyKey(password: string): KeyShape {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return 'too-long';
  if (!password.startsWith(KEY_PREFIX)) return 'legacy';
  const rest = password.slice(KEY_PREFIX.length);
  // Something that claims our format (prefix + base62 of the right length) must carry a valid checksum.
  if (password.length === KEY_LENGTH && BASE62_BODY.test(rest)) {
    const body = password.slice(0, KEY_LENGTH - CHECKSUM_LENGTH);
    return password.slice(KEY_LENGTH - CHECKSUM_LENGTH) === checksum(body) ? 'current' : 'bad-checksum';
  }
  return 'legacy';
}
