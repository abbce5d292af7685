import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { listOrganizations } from '../../../store/organizations.js';
import type { AdminEnv } from '../auth.js';
import { ACCESS, errorResponses, json } from '../openapi.js';
import { Organization, PageQuery, pageOf } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/api/v1/admin/organizations',
  summary: 'List organizations (newest first)',
  tags: ['Admin'],
  security: ACCESS.superAdmin.security,
  middleware: ACCESS.superAdmin.middleware,
  request: { query: PageQuery },
  responses: {
    200: json(pageOf(Organization), 'A page of organizations'),
    ...errorResponses(ACCESS.superAdmin.errors, ['VALIDATION_ERROR']),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const query = c.req.valid('query');
  return c.json(await listOrganizations(c.get('deps').sql, query), 200);
};
