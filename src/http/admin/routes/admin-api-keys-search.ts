import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { searchApiKeys } from '../../../store/admin-api-keys.js';
import type { AdminEnv } from '../auth.js';
import { ACCESS, errorResponses, json } from '../openapi.js';
import { AdminApiKeysQuery, ApiKey, pageOf } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/api/v1/admin/api-keys',
  summary: 'Search API keys across organizations (newest first)',
  tags: ['Admin'],
  security: ACCESS.superAdmin.security,
  middleware: ACCESS.superAdmin.middleware,
  request: { query: AdminApiKeysQuery },
  responses: {
    200: json(pageOf(ApiKey), 'A page of API keys'),
    ...errorResponses(ACCESS.superAdmin.errors, ['VALIDATION_ERROR']),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const { page, limit, ...filter } = c.req.valid('query');
  return c.json(await searchApiKeys(c.get('deps').sql, filter, { page, limit }), 200);
};
