import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { mintApiKey, SelfTestFailed } from '../../../keys/mint.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ApiError, invalidField } from '../errors.js';
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
  const deps = c.get('deps');
  const input = c.req.valid('json');
  if (input.expiresAt !== null && input.expiresAt.getTime() <= deps.now().getTime()) {
    throw invalidField('body.expiresAt', 'must be in the future');
  }
  try {
    const { amqp, ...minted } = await mintApiKey(deps, { org: c.get('org'), actor: actorOf(c), input });
    return c.json({ ...minted, connection: amqp ?? { selfTest: { status: 'not_applicable' as const } } }, 201);
  } catch (err) {
    if (err instanceof SelfTestFailed) throw new ApiError('BROKER_SELF_TEST_FAILED', SELF_TEST_MESSAGES[err.stage], { stage: err.stage });
    throw err;
  }
};

const SELF_TEST_MESSAGES = {
  provision: 'Provisioning the broker vhost failed; no key was created. Try again or contact the operators.',
  probe: 'The broker refused the new key during the self-test; no key was created. Try again or contact the operators.',
};
