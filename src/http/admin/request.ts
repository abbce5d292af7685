// Reading what a client sent beyond what the route schemas validate: JSON bodies whatever their
// Content-Type (clients that send none, or text/plain, keep working), and who/where for the audit log.
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from './errors.js';

const MAX_USER_AGENT = 512;

/**
 * Route middleware for routes with a JSON body, run before the library's validators. The body
 * is read once (inside the body limit); malformed JSON is a 400 that names it, never a 500. A
 * non-empty body is then presented as application/json whatever Content-Type it came with, an
 * empty one as no body at all, so the validator (not a 415) decides what is missing.
 */
export const acceptJsonBody: MiddlewareHandler = async (c, next) => {
  const text = await c.req.text();
  const headers = new Headers(c.req.raw.headers);
  headers.delete('content-length');
  if (text.trim() === '') {
    headers.delete('content-type');
  } else {
    try {
      JSON.parse(text);
    } catch {
      throw new ApiError('VALIDATION_ERROR', 'Request body is not valid JSON', {
        issues: [{ path: 'body', code: 'invalid_json', message: 'Malformed JSON' }],
      });
    }
    headers.set('content-type', 'application/json');
  }
  // The text stays in c.req's body cache, where the validator's c.req.json() finds it.
  c.req.raw = new Request(c.req.raw.url, { method: c.req.raw.method, headers, signal: c.req.raw.signal });
  await next();
};

export interface RequestMeta {
  /**
   * The TCP peer of the admin listener. X-Forwarded-For / X-Real-IP are not trusted: any
   * client can send them. Behind a proxy this is the proxy's address.
   */
  ip: string | null;
  userAgent: string | null;
}

export function requestMeta(c: Context): RequestMeta {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const ip = incoming?.socket?.remoteAddress ?? null;
  const ua = c.req.header('user-agent');
  return { ip, userAgent: ua === undefined ? null : ua.slice(0, MAX_USER_AGENT) };
}
