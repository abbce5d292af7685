/**
 * Removes secrets from a text that came from elsewhere (a broker error) before it is logged,
 * stored in the audit log or shown: the given secrets in plain and URL-encoded form, and any
 * URL userinfo (`scheme://user:pass@`).
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s === '') continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/gi, '$1***@').slice(0, 500);
}
