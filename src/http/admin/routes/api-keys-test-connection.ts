import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { testConnection } from '../../../keys/test-connection.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { ApiKeyIdParam, TestConnectionBody, TestConnectionResponse } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/partner/api-keys/{id}/test-connection',
  summary: 'Probe the broker with a pasted key, as the partner would connect',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: withBody(ACCESS.org.middleware),
  request: { params: ApiKeyIdParam, body: jsonBody(TestConnectionBody) },
  responses: {
    200: json(TestConnectionResponse, 'The probe result (ok:false carries an actionable error)'),
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const outcome = await testConnection(c.get('deps'), actorOf(c), c.get('org').id, id, c.req.valid('json').key);
  if (outcome === 'not-found') throw new ApiError('API_KEY_NOT_FOUND');
  return c.json(outcome, 200);
};
