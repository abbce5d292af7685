import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import type { RestRefusal } from '../../../policy/rest.js';
import type { AdminEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { type VERIFY_CODES, VerifyKeyBody, VerifyKeyResponse } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/keys/verify',
  summary: 'Check a presented API key for a REST request (for services that do not sit behind forward auth)',
  description:
    'The same check as forward auth at /auth/rest on the auth listener, from the same in-memory key table: the key must be ' +
    'active and unexpired, the address inside its allowedIps, every scope given among its stored scopes (no legacy expansion), ' +
    'the plant among its allowedPlantIds. A usable key answers valid:true with its identity; otherwise valid:false with the ' +
    'first check that failed. Each answer counts as a use of the key (lastUsedAt) or a refusal (partner.request_refused, ' +
    'aggregated). Bearer token from VERIFY_TOKENS (which may call nothing else) or ADMIN_TOKENS.',
  tags: ['Keys'],
  security: ACCESS.verifier.security,
  middleware: withBody(ACCESS.verifier.middleware),
  request: { body: jsonBody(VerifyKeyBody) },
  responses: {
    200: json(VerifyKeyResponse, "valid:true with the key's identity, or valid:false with the reason"),
    ...errorResponses(ACCESS.verifier.errors, BODY_ERRORS),
  },
});

const CODES: Record<RestRefusal, (typeof VERIFY_CODES)[number]> = {
  // A key field the client left out is no key of ours either (the body needs a non-empty key).
  no_key: 'NOT_FOUND',
  malformed_key: 'NOT_FOUND',
  unknown_key: 'NOT_FOUND',
  inactive: 'REVOKED',
  expired: 'EXPIRED',
  ip_not_allowed: 'IP_NOT_ALLOWED',
  insufficient_scope: 'INSUFFICIENT_SCOPE',
  plant_not_allowed: 'PLANT_NOT_ALLOWED',
};

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const check = c.get('deps').checkKey;
  if (check === undefined) throw new ApiError('INTERNAL_SERVER_ERROR', 'Key verification is not available on this instance');
  const body = c.req.valid('json');
  const verdict = await check({ secret: body.key, clientIp: body.ip, requiredScopes: body.scopes ?? [], plantId: body.plantId }, 'verify');
  if (verdict.result !== 'allow') return c.json({ valid: false as const, code: CODES[verdict.result] }, 200);
  const key = verdict.key;
  return c.json(
    {
      valid: true as const,
      keyId: key.id,
      organizationId: key.organizationId,
      partnerId: key.partnerId,
      scopes: [...key.storedScopes],
      allowedPlantIds: key.allowedPlantIds === null ? null : [...key.allowedPlantIds],
      expiresAt: key.expiresAt === null ? null : new Date(key.expiresAt).toISOString(),
    },
    200,
  );
};
