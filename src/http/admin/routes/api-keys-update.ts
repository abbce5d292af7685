import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { editKey } from '../../../keys/lifecycle.js';
import { getApiKey, getKeyQueueType } from '../../../store/api-keys.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { ApiKeyDetail, ApiKeyIdParam, UpdateApiKeyBody } from '../schemas.js';
import { keyDetail } from './api-keys-get.js';

export const route = createRoute({
  method: 'patch',
  path: '/api/v1/partner/api-keys/{id}',
  summary: 'Rename a key and/or replace its IP allowlist (scopes and expiry are immutable: mint a new key)',
  description:
    'Only `name` and `allowedIps` can change; any other field is a 400 VALIDATION_ERROR. A revoked key answers 409 CONFLICT. ' +
    'The new allowlist applies to the next vhost check on every instance; open connections from addresses it no longer admits are closed within 10 s.',
  tags: ['Partner'],
  security: ACCESS.org.security,
  parameters: ACCESS.org.parameters,
  middleware: withBody(ACCESS.org.middleware),
  request: { params: ApiKeyIdParam, body: jsonBody(UpdateApiKeyBody) },
  responses: {
    200: json(ApiKeyDetail, 'The key as GET returns it'),
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND', 'CONFLICT'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const org = c.get('org');
  const { id } = c.req.valid('param');
  const edit = c.req.valid('json');
  const result = await editKey(deps.sql, actorOf(c), org.id, id, edit);
  if (result.outcome === 'not-found') throw new ApiError('API_KEY_NOT_FOUND');
  if (result.outcome === 'revoked') throw new ApiError('CONFLICT', 'A revoked API key cannot be edited; mint a new key', { reason: 'revoked' });
  if (result.outcome === 'updated') {
    // This instance at once; every other instance through the api_keys trigger's NOTIFY.
    deps.evictKey?.(id);
    deps.log.info({ apiKeyId: id, organizationId: org.id, fields: Object.keys(edit) }, 'api key updated');
    // A legacy key shares vhost "/" with its org's other legacy keys: its open connections cannot
    // be told apart there, so only new connections see its new list (README, Decisions).
    const ips = result.changes.allowedIps;
    if (ips !== undefined && result.vhost !== null) deps.broker?.enforceAllowlist?.(result.vhost, ips.after);
  }
  const key = await getApiKey(deps.sql, org.id, id);
  if (key === undefined) throw new ApiError('API_KEY_NOT_FOUND'); // deleted meanwhile
  return c.json(keyDetail(deps, org, key, await getKeyQueueType(deps.sql, key.id)), 200);
};
