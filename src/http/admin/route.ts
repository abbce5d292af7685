// A route is described once: the app registers it (method, path, access, parsing, handler)
// and the OpenAPI document is generated from the same description (schemas, status, errors),
// so the document cannot drift from what is validated.
import type { Context } from 'hono';
import type { z } from 'zod';
import type { AdminEnv } from './auth.js';
import type { AdminDeps } from './deps.js';
import type { ErrorCode } from './errors.js';

export type Access = 'public' | 'super-admin' | 'org';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface HandlerInput<B, Q> {
  c: Context<AdminEnv>;
  deps: AdminDeps;
  /** The validated body (undefined for routes without a body schema). */
  body: Out<B>;
  /** The validated query string. */
  query: Out<Q>;
}

export interface RouteSpec<B extends z.ZodType | undefined = z.ZodType | undefined, Q extends z.ZodType | undefined = z.ZodType | undefined> {
  method: 'get' | 'post' | 'delete';
  /** Hono syntax (`/api/v1/partner/api-keys/:id`); `:id` is always a UUID (INVALID_UUID otherwise). */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  body?: B;
  query?: Q;
  success: { status: 200 | 201; description: string; schema?: z.ZodType; contentType?: string };
  /** Other statuses answered with the success schema (readyz: 503). */
  alsoAnswers?: { status: number; description: string }[];
  /** Error codes beyond the ones implied by the access level (see impliedErrors). */
  errors: ErrorCode[];
  handle(input: HandlerInput<B, Q>): Promise<Response>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any>;

/** Keeps route files typed: body/query types flow from the schemas into the handler. */
export function defineRoute<B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined>(
  spec: RouteSpec<B, Q>,
): AnyRoute {
  return spec as AnyRoute;
}

/** Error codes every route of an access level can answer, besides its own. */
export function impliedErrors(access: Access): ErrorCode[] {
  if (access === 'public') return [];
  if (access === 'super-admin') return ['UNAUTHORIZED', 'FORBIDDEN'];
  return ['UNAUTHORIZED', 'FORBIDDEN', 'VALIDATION_ERROR', 'ORGANIZATION_NOT_FOUND'];
}
