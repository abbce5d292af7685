// The one place that removes secrets from text that may be logged, stored (audit details) or
// shown to a client: broker error messages, library errors, reasons from other systems. Also the
// constant-time comparison of secrets (matchesAny).
import { timingSafeEqual } from 'node:crypto';

const CENSOR = '***';
/** Longest scrubbed text kept: a reason is for a person to read, not a dump. */
export const MAX_SCRUBBED_LENGTH = 500;
/** `scheme://user:pass@` anywhere in the text: the userinfo goes, scheme and host stay. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/gi;

/**
 * `text` with every given secret replaced by ***, in each form it may travel in (plain,
 * percent-encoded as in a URL, form-encoded as in a query string), and with any URL userinfo
 * replaced too; cut to MAX_SCRUBBED_LENGTH characters. Empty or undefined secrets are ignored.
 */
export function scrub(text: string, secrets: readonly (string | undefined)[] = [], censor = CENSOR): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    const forms = new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)]);
    // Longest first: a form that contains another is replaced whole.
    for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join(censor);
  }
  return out.replace(URL_USERINFO, `$1${censor}@`).slice(0, MAX_SCRUBBED_LENGTH);
}

export interface LoggedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

/**
 * What of an error may be logged: its name, code, message and stack, scrubbed. Never its other
 * fields: library errors carry request options, query parameters or tokens in them.
 */
export function errorForLog(err: unknown, secrets: readonly (string | undefined)[] = []): LoggedError {
  if (!(err instanceof Error)) return { name: 'NonError', message: scrub(String(err), secrets) };
  const code = (err as { code?: unknown }).code;
  return {
    name: err.name,
    message: scrub(err.message, secrets),
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    ...(err.stack === undefined ? {} : { stack: scrubStack(err.stack, secrets) }),
  };
}

/** A stack is longer than a reason: scrubbed line by line, not cut to one reason's length. */
function scrubStack(stack: string, secrets: readonly (string | undefined)[]): string {
  return stack
    .split('\n')
    .slice(0, 20)
    .map((line) => scrub(line, secrets))
    .join('\n');
}

/**
 * The index of the first of `stored` equal to `presented` (-1: none), in constant time: every entry is compared, with
 * no early exit. Values of different lengths never match (the caller hashes to equal lengths).
 */
export function matchesAny(stored: readonly Buffer[], presented: Buffer): number {
  let match = -1;
  for (let i = 0; i < stored.length; i++) {
    const s = stored[i]!;
    if (s.length === presented.length && timingSafeEqual(s, presented) && match === -1) match = i;
  }
  return match;
}
