// What a command can end with besides success: a usage error (exit 2) or a failure (exit 1).
// Every message the CLI prints goes through oneLine(), which also hides anything shaped like a
// secret, so no error message can carry a key even when it quotes server text or user input.
import { scrub } from '../secrets.js';

/** The command line itself is wrong: exit 2. */
export class UsageError extends Error {}

/** The command could not do its work: exit 1, with a one-line reason (and optional extra lines). */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly extraLines: string[] = [],
    /** The server's error code, when the failure is its answer (API_KEY_NOT_FOUND, …). */
    readonly code?: string,
  ) {
    super(message);
  }
}

// voke_ + 46 base62 (a minted key), or any long token after voke_; 64 hex (a signing key).
const SECRET_SHAPES = [/voke_[A-Za-z0-9]{12,}/g, /\b[0-9a-fA-F]{64}\b/g];

/** The given secrets in every form they travel in (src/secrets.ts's scrub), then anything key-shaped. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = scrub(
    text,
    secrets.filter((s) => s.length >= 8),
    '[redacted]',
  );
  for (const shape of SECRET_SHAPES) out = out.replace(shape, '[redacted]');
  return out;
}

/** One line, no control characters, no secrets. */
export function oneLine(text: string, secrets: readonly string[] = []): string {
  return redact(text, secrets)
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim();
}
