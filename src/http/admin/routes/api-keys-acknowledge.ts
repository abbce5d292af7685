import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { transitionKey } from '../../../keys/lifecycle.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { ApiKeyIdParam, EmptyBody, Message } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/partner/api-keys/{id}/acknowledge',
  summary: 'Record that the reveal bundle was saved ("I\'ve saved these"); once per key',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: withBody(ACCESS.org.middleware),
  request: { params: ApiKeyIdParam, body: jsonBody(EmptyBody, false) },
  responses: {
    200: json(Message, 'Acknowledged (also when it already was)'),
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const result = await transitionKey(c.get('deps').sql, actorOf(c), c.get('org').id, id, 'acknowledge');
  if (result.outcome === 'not-found') throw new ApiError('API_KEY_NOT_FOUND');
  return c.json({ message: 'Bundle acknowledged' }, 200);
};
