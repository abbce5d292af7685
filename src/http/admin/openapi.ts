// What the admin routes' OpenAPI descriptions share. Each route is a createRoute() object of
// @hono/zod-openapi in its own file under routes/; the library validates requests with its
// schemas and generates /openapi.json from it. This file only holds the repeated parts: who may
// call (guards + security + the x-org-id header), the error envelope per status, JSON bodies.

import type { RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { ZodType } from 'zod';
import { type AdminEnv, authenticate, authenticateVerifier, requireOrgAccess, requireSuperAdmin } from './auth.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { acceptJsonBody } from './request.js';
import { ErrorEnvelope } from './schemas.js';

export const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'voke-auth admin API',
    version: '1',
    description:
      'Organizations, partner API keys and their audit log. Errors always use the envelope ' +
      '{code, details, error, message, statusCode}. Request bodies are limited to 64 KiB; unknown fields are rejected.',
  },
};

type ResponseConfig = RouteConfig['responses'][string];

export const BEARER_AUTH = {
  type: 'http',
  scheme: 'bearer',
  description:
    'A token from ADMIN_TOKENS, or an HS256 JWT signed with JWT_SECRET; POST /api/v1/keys/verify takes a token from VERIFY_TOKENS or ADMIN_TOKENS only',
} as const;

/**
 * Who may call a route: its guards (run before validation, so an unauthenticated caller learns
 * nothing about the input), its OpenAPI security, and the error codes that come with it.
 */
export const ACCESS = {
  public: { middleware: [] as MiddlewareHandler<AdminEnv>[], security: [], errors: [] as ErrorCode[] },
  superAdmin: {
    middleware: [authenticate, requireSuperAdmin],
    security: [{ bearerAuth: [] }],
    errors: ['UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'] as ErrorCode[],
  },
  verifier: {
    middleware: [authenticateVerifier],
    security: [{ bearerAuth: [] }],
    errors: ['UNAUTHORIZED', 'INTERNAL_SERVER_ERROR'] as ErrorCode[],
  },
  org: {
    middleware: [authenticate, requireOrgAccess],
    security: [{ bearerAuth: [] }],
    // Checked by requireOrgAccess (before validation, in its order of checks): documented only.
    parameters: [{ name: 'x-org-id', in: 'header', required: true, description: 'Organization the call acts on', schema: { type: 'string', format: 'uuid' } }],
    errors: ['UNAUTHORIZED', 'FORBIDDEN', 'VALIDATION_ERROR', 'ORGANIZATION_NOT_FOUND', 'INTERNAL_SERVER_ERROR'] as ErrorCode[],
  },
} satisfies Record<
  string,
  Pick<RouteConfig, 'security'> & { middleware: MiddlewareHandler<AdminEnv>[]; errors: ErrorCode[]; parameters?: RouteConfig['parameters'] }
>;

/**
 * `getApiV1PartnerApiKeysId` for GET /api/v1/partner/api-keys/{id}: derived from method and path,
 * stable as long as they are, so clients generated from the document keep their method names.
 */
export function operationId(route: Pick<RouteConfig, 'method' | 'path'>): string {
  return `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}`;
}

/** A required (or, for POSTs without a body, optional) JSON body; list BODY_ERRORS with it. */
export function jsonBody<S extends ZodType>(schema: S, required = true) {
  return { required, content: { 'application/json': { schema } } };
}
export const BODY_ERRORS: ErrorCode[] = ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE'];
/** Route middleware of a route with a JSON body: the guards, then the body read as JSON. */
export const withBody = (guards: MiddlewareHandler<AdminEnv>[]): MiddlewareHandler<AdminEnv>[] => [...guards, acceptJsonBody];

export function json<S extends ZodType>(schema: S, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/**
 * One response per status the codes map to, each the envelope, its description naming the codes
 * (in the order given: the access level's, the route's own, then the body's).
 */
export function errorResponses(...lists: ErrorCode[][]): Record<string, ResponseConfig> {
  const byStatus = new Map<number, ErrorCode[]>();
  // Any guarded route can fail unexpectedly: INTERNAL_SERVER_ERROR comes with the guards, last.
  const codes = new Set(lists.flat());
  if (codes.delete('INTERNAL_SERVER_ERROR')) codes.add('INTERNAL_SERVER_ERROR');
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, ResponseConfig> = {};
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = { description: `Error envelope; code: ${codes.join(', ')}`, content: { 'application/json': { schema: ErrorEnvelope } } };
  }
  return out;
}
