import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** The HMAC signing key for high-risk commands: 32 random bytes as 64 hex chars, shown once. */
export function generateSigningKey(): string {
  return randomBytes(32).toString('hex');
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM; stored as iv | tag | ciphertext. The command consumer decrypts it to verify signatures. */
export function encryptSigningKey(signingKey: string, encryptionKey: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
  const ciphertext = Buffer.concat([cipher.update(signingKey, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
}

export function decryptSigningKey(stored: Buffer, encryptionKey: Buffer): string {
  const iv = stored.subarray(0, IV_BYTES);
  const tag = stored.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(stored.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
