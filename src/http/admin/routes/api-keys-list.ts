import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { listApiKeys } from '../../../store/api-keys.js';
import type { AdminEnv } from '../auth.js';
import { ACCESS, errorResponses, json } from '../openapi.js';
import { ApiKey, PageQuery, pageOf } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/api/v1/partner/api-keys',
  summary: 'List API keys of the organization (newest first)',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: ACCESS.org.middleware,
  request: { query: PageQuery },
  responses: {
    200: json(pageOf(ApiKey), 'A page of API keys'),
    ...errorResponses(ACCESS.org.errors),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const query = c.req.valid('query');
  return c.json(await listApiKeys(c.get('deps').sql, c.get('org').id, query), 200);
};
