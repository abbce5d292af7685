import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { getApiKey } from '../../../store/api-keys.js';
import type { AdminEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ACCESS, errorResponses, json } from '../openapi.js';
import { ApiKey, ApiKeyIdParam } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/api/v1/partner/api-keys/{id}',
  summary: 'One API key of the organization',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: ACCESS.org.middleware,
  request: { params: ApiKeyIdParam },
  responses: {
    200: json(ApiKey, 'The key (never its secret)'),
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND']),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const key = await getApiKey(c.get('deps').sql, c.get('org').id, c.req.valid('param').id);
  if (key === undefined) throw new ApiError('API_KEY_NOT_FOUND');
  return c.json(key, 200);
};
