// The admin listener's application: routes from ./routes (and /openapi.json), one error
// envelope for everything, a 64 KiB body limit. Mount it with @hono/node-server's serve().
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { authenticate, requireOrgAccess, requireSuperAdmin, type AdminEnv } from './auth.js';
import type { AdminDeps } from './deps.js';
import { ApiError, errorResponse, toApiError } from './errors.js';
import { ADMIN_ROUTES } from './openapi.js';
import { parseBody, parseQuery, pathId } from './request.js';
import type { AnyRoute } from './route.js';

export const MAX_BODY_BYTES = 64 * 1024;
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function createAdminApp(deps: AdminDeps): Hono<AdminEnv> {
  if (deps.broker !== undefined && deps.config.rabbitmqAmqpUrl === undefined) {
    throw new Error('createAdminApp: a broker is configured but config.rabbitmqAmqpUrl is not (the self-test needs it)');
  }
  const app = new Hono<AdminEnv>();

  app.use('*', accessLog(deps));
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => errorResponse(c, new ApiError('PAYLOAD_TOO_LARGE', `Request body exceeds ${MAX_BODY_BYTES} bytes`, { maxBytes: MAX_BODY_BYTES })),
    }),
  );
  app.use('/api/*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });

  const guards: Record<AnyRoute['access'], MiddlewareHandler<AdminEnv>[]> = {
    public: [],
    'super-admin': [authenticate(deps), requireSuperAdmin()],
    org: [authenticate(deps), requireOrgAccess(deps)],
  };
  for (const route of ADMIN_ROUTES) {
    const handler: MiddlewareHandler<AdminEnv> = async (c) => {
      if (route.path.includes(':id')) pathId(c);
      const body = route.body ? await parseBody(c, route.body) : undefined;
      const query = route.query ? parseQuery(c, route.query) : undefined;
      return route.handle({ c, deps, body, query });
    };
    app.on([route.method.toUpperCase()], [route.path], ...guards[route.access], handler);
  }

  app.notFound((c) => errorResponse(c, new ApiError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    const apiError = toApiError(err);
    if (apiError.code === 'INTERNAL_SERVER_ERROR' && !(err instanceof ApiError)) {
      // Name, message and stack only: library errors can carry query parameters or tokens in other fields.
      const e = err as Partial<Error> & { code?: unknown };
      deps.log.error({ err: { name: e.name, message: e.message, code: e.code, stack: e.stack }, method: c.req.method, path: c.req.path }, 'admin request failed');
    }
    return errorResponse(c, apiError);
  });
  return app;
}

/** One line per request: method, path (no query string, no headers, no body), status, duration. */
function accessLog(deps: AdminDeps): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const line = { method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round(performance.now() - started) };
    if (QUIET_PATHS.has(c.req.path)) deps.log.debug(line, 'admin request');
    else deps.log.info(line, 'admin request');
  };
}
