import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { connectionValues } from '../../../broker/topology.js';
import { rotateKey } from '../../../keys/rotate.js';
import { hasConnectScope } from '../../../policy/scopes.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { ApiKeyIdParam, DEFAULT_OVERLAP_SECONDS, RotateApiKeyBody, RotateApiKeyResponse } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/partner/api-keys/{id}/rotate',
  summary: 'Give a key a new secret in place (same id, vhost, queues, scopes, allowlist, signing key); shows the new key ONCE',
  description:
    'The previous secret stays valid for `overlapSeconds` (default 86400, at most 604800): both secrets log in, on every instance. ' +
    'After it, the previous secret is refused and the connections opened with it are closed within 10 s; connections opened with ' +
    'the new secret stay open. `overlapSeconds: 0` is the emergency rotation (leaked key): the previous secret is refused at once ' +
    'and its connections are closed; the queues and their backlog stay. A key holds at most two valid secrets: rotating during an ' +
    'overlap ends the older previous secret at once. A revoked or expired key answers 409 CONFLICT. The audit row ' +
    '`api_key.rotated` (old and new prefix, end of the overlap; never a secret) is written in the same transaction.',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: withBody(ACCESS.org.middleware),
  request: { params: ApiKeyIdParam, body: jsonBody(RotateApiKeyBody, false) },
  responses: {
    200: json(RotateApiKeyResponse, 'Rotated: the new key (shown once), the key as GET shows it, how to connect, and when the previous secret stops working'),
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND', 'CONFLICT'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const org = c.get('org');
  const { id } = c.req.valid('param');
  const overlapSeconds = c.req.valid('json')?.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
  const result = await rotateKey(
    { sql: deps.sql, hasher: deps.hasher, authCacheTtlMs: deps.config.brokerAuthCacheTtlMs },
    actorOf(c),
    org.id,
    id,
    overlapSeconds,
  );
  if (result.outcome === 'not-found') throw new ApiError('API_KEY_NOT_FOUND');
  if (result.outcome === 'revoked') throw new ApiError('CONFLICT', 'A revoked API key cannot be rotated; mint a new key', { reason: 'revoked' });
  if (result.outcome === 'expired') throw new ApiError('CONFLICT', 'An expired API key cannot be rotated; mint a new key', { reason: 'expired' });
  // This instance at once; every other instance through the api_keys trigger's NOTIFY.
  deps.evictKey?.(id);
  const { key, apiKey, previousKeyExpiresAt } = result;
  deps.log.info(
    { apiKeyId: id, organizationId: org.id, keyPrefix: apiKey.keyPrefix, previousKeyExpiresAt: previousKeyExpiresAt.toISOString(), overlapSeconds },
    'api key rotated',
  );
  const connection = hasConnectScope(apiKey.scopes)
    ? connectionValues({ host: deps.config.publicAmqpHost, port: deps.config.publicAmqpPort, slug: org.slug, vhost: apiKey.vhost ?? '/', password: key })
    : null;
  return c.json({ key, apiKey, connection, previousKeyExpiresAt: previousKeyExpiresAt.toISOString() }, 200);
};
