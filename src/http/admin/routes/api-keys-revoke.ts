import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { revokeKey } from '../../../keys/revoke.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import type { AdminDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { ACCESS, errorResponses, json } from '../openapi.js';
import { ApiKeyIdParam, RevokeResult } from '../schemas.js';

export const route = createRoute({
  method: 'delete',
  path: '/api/v1/partner/api-keys/{id}',
  summary: 'Revoke an API key (idempotent; its broker vhost and connections are removed)',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: ACCESS.org.middleware,
  request: { params: ApiKeyIdParam },
  responses: {
    200: json(RevokeResult, 'Revoked (also when it already was); with the broker auth cache, when its last cached answer expires'),
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND']),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const { id } = c.req.valid('param');
  const result = await revokeKey(deps, actorOf(c), c.get('org').id, id);
  if (result.outcome === 'not-found') throw new ApiError('API_KEY_NOT_FOUND');
  return c.json({ message: 'API key revoked', cachedAnswersExpireAt: cachedAnswersExpireAt(deps, result.revokedAt) }, 200);
};

/**
 * With the broker auth cache on, the broker may answer from its cache for up to the TTL after the
 * revocation: harmless for a key whose vhost is deleted (a missing vhost refuses every
 * connection first), a lag for a legacy "/" key or a vhost not deleted yet (README, "Broker
 * auth cache"). Derived from revoked_at, so a repeated revoke answers the same.
 */
function cachedAnswersExpireAt(deps: AdminDeps, revokedAt: Date | null): string | null {
  const ttl = deps.config.brokerAuthCacheTtlMs;
  if (ttl <= 0) return null;
  return new Date((revokedAt ?? deps.now()).getTime() + ttl).toISOString();
}
