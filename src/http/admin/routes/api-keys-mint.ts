import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import type { AdminEnv } from '../auth.js';
import { actorOf } from '../actor.js';
import { mintApiKey } from '../mint.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { CreateApiKeyBody, CreateApiKeyResponse } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/partner/api-keys',
  summary: 'Create an API key (plaintext key and signing key returned once)',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: withBody(ACCESS.org.middleware),
  request: { body: jsonBody(CreateApiKeyBody) },
  responses: {
    201: json(CreateApiKeyResponse, 'Created; the only response that ever holds the key'),
    ...errorResponses(ACCESS.org.errors, ['BROKER_SELF_TEST_FAILED'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const result = await mintApiKey(c.get('deps'), { org: c.get('org'), actor: actorOf(c), input: c.req.valid('json') });
  return c.json(result, 201);
};
