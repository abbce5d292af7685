// The admin API's one error shape (docs/architecture.md, "Errors"): { code, details, error, message, statusCode },
// with the HTTP status that belongs to the code. Everything a handler throws ends up here.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

export const ERROR_CODES = {
  VALIDATION_ERROR: { status: 400, error: 'Bad Request', message: 'Validation error' },
  INVALID_UUID: { status: 400, error: 'Bad Request', message: 'Invalid UUID' },
  UNAUTHORIZED: { status: 401, error: 'Unauthorized', message: 'Unauthorized' },
  FORBIDDEN: { status: 403, error: 'Forbidden', message: 'Forbidden' },
  API_KEY_NOT_FOUND: { status: 404, error: 'Not Found', message: 'API key not found' },
  ORGANIZATION_NOT_FOUND: { status: 404, error: 'Not Found', message: 'Organization not found' },
  // Not a route's error: an unknown path or method still answers with the envelope.
  NOT_FOUND: { status: 404, error: 'Not Found', message: 'Route not found' },
  CONFLICT: { status: 409, error: 'Conflict', message: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, error: 'Payload Too Large', message: 'Request body too large' },
  BROKER_SELF_TEST_FAILED: { status: 500, error: 'Internal Server Error', message: 'Broker self-test failed' },
  INTERNAL_SERVER_ERROR: { status: 500, error: 'Internal Server Error', message: 'Internal server error' },
} as const satisfies Record<string, { status: ContentfulStatusCode; error: string; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
export type ErrorDetails = Record<string, unknown>;

export interface ErrorEnvelope {
  code: ErrorCode;
  details: ErrorDetails;
  error: string;
  message: string;
  statusCode: number;
}

/**
 * The one error type of the admin API: an HTTPException carrying an envelope code. Thrown by
 * handlers, middleware and the validation hook; the app's one onError turns it into the envelope.
 */
export class ApiError extends HTTPException {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  declare readonly status: ContentfulStatusCode;

  constructor(code: ErrorCode, message?: string, details: ErrorDetails = {}) {
    super(ERROR_CODES[code].status, { message: message ?? ERROR_CODES[code].message });
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }

  envelope(): ErrorEnvelope {
    const { status, error } = ERROR_CODES[this.code];
    return { code: this.code, details: this.details, error, message: this.message, statusCode: status };
  }
}

export interface ValidationIssue {
  path: string;
  code: string;
  message: string;
}

/** Zod issues as details; never echoes the rejected input (it may be a secret). */
export function validationError(issues: readonly z.core.$ZodIssue[], where: 'body' | 'query' | 'header', message?: string): ApiError {
  const list: ValidationIssue[] = issues.map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    code: i.code,
    message: i.message,
  }));
  return new ApiError('VALIDATION_ERROR', message ?? 'Validation error', { issues: list });
}

export function invalidField(path: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', 'Validation error', { issues: [{ path, code: 'custom', message }] });
}

export function errorResponse(c: Context, err: ApiError): Response {
  if (err.code === 'UNAUTHORIZED') c.header('WWW-Authenticate', 'Bearer');
  c.header('Cache-Control', 'no-store');
  return c.json(err.envelope(), err.status);
}

/**
 * Maps anything thrown to an ApiError: a library's own HTTPException keeps its status class,
 * anything else becomes a bare 500 (details logged, not sent).
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) {
    if (err.status === 413) return new ApiError('PAYLOAD_TOO_LARGE');
    if (err.status === 400 || err.status === 415) return new ApiError('VALIDATION_ERROR', 'Malformed request');
    if (err.status === 401) return new ApiError('UNAUTHORIZED');
    if (err.status === 403) return new ApiError('FORBIDDEN');
    if (err.status === 404) return new ApiError('NOT_FOUND');
  }
  return new ApiError('INTERNAL_SERVER_ERROR');
}
