import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { listAuditEvents } from '../../../store/audit.js';
import type { AdminEnv } from '../auth.js';
import { ACCESS, errorResponses, json } from '../openapi.js';
import { AuditEvent, AuditEventsQuery, pageOf } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/api/v1/partner/audit-events',
  summary: 'Audit log of the organization (newest first)',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: ACCESS.org.middleware,
  request: { query: AuditEventsQuery },
  responses: {
    200: json(pageOf(AuditEvent), 'A page of audit events'),
    ...errorResponses(ACCESS.org.errors),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const { page: p, limit, type, apiKeyId } = c.req.valid('query');
  return c.json(await listAuditEvents(c.get('deps').sql, c.get('org').id, { type, apiKeyId: apiKeyId?.toLowerCase() }, { page: p, limit }), 200);
};
