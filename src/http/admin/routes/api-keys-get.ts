import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { connectionValues, KEY_PLACEHOLDER } from '../../../broker/topology.js';
import { hasConnectScope } from '../../../policy/scopes.js';
import { getApiKey, getKeyQueueType } from '../../../store/api-keys.js';
import type { ApiKey, ApiKeyDetail as ApiKeyDetailView, Organization } from '../api-types.js';
import type { AdminEnv } from '../auth.js';
import type { AdminDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { ACCESS, errorResponses, json } from '../openapi.js';
import { ApiKeyDetail, ApiKeyIdParam } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/api/v1/partner/api-keys/{id}',
  summary: 'One API key of the organization, with its connection values (never its secret)',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: ACCESS.org.middleware,
  request: { params: ApiKeyIdParam },
  responses: {
    200: json(ApiKeyDetail, 'The key and how to connect with it; the URI carries <API_KEY> where the key goes'),
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND']),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const org = c.get('org');
  const key = await getApiKey(deps.sql, org.id, c.req.valid('param').id);
  if (key === undefined) throw new ApiError('API_KEY_NOT_FOUND');
  return c.json(keyDetail(deps, org, key, await getKeyQueueType(deps.sql, key.id)), 200);
};

/**
 * The key as GET and PATCH answer it: the key view plus what the partner needs to connect
 * (public host and port, slug, vhost, the six queues, the URI with KEY_PLACEHOLDER). A key
 * without a connect scope cannot open AMQP: connection null. A legacy key (vhost null) is on `/`.
 */
export function keyDetail(deps: Pick<AdminDeps, 'config'>, org: Organization, key: ApiKey, queueType: 'classic' | 'quorum' | null): ApiKeyDetailView {
  const connection = hasConnectScope(key.scopes)
    ? {
        ...connectionValues({
          host: deps.config.publicAmqpHost,
          port: deps.config.publicAmqpPort,
          slug: org.slug,
          vhost: key.vhost ?? '/',
          password: KEY_PLACEHOLDER,
        }),
        queueType,
      }
    : null;
  return { ...key, connection };
}
