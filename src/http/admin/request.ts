// Reading what a client sent: JSON bodies, query strings, path ids, and who/where for the audit log.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError, validationError } from './errors.js';
import { uuid } from './schemas.js';

const MAX_USER_AGENT = 512;

/** The body as JSON; undefined when empty. Malformed JSON is a 400, never a 500. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError('VALIDATION_ERROR', 'Request body is not valid JSON', {
      issues: [{ path: 'body', code: 'invalid_json', message: 'Malformed JSON' }],
    });
  }
}

export async function parseBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const result = schema.safeParse(await readJson(c));
  if (!result.success) throw validationError(result.error.issues, 'body');
  return result.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationError(result.error.issues, 'query');
  return result.data;
}

const PathUuid = uuid();

/** A `:id` path parameter; anything but a UUID is 400 INVALID_UUID. */
export function pathId(c: Context, what = 'API key'): string {
  const raw = c.req.param('id') ?? '';
  if (!PathUuid.safeParse(raw).success) throw new ApiError('INVALID_UUID', `Invalid ${what} UUID`);
  return raw.toLowerCase();
}

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
