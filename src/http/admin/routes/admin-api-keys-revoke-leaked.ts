import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { revokeKeys } from '../../../keys/lifecycle.js';
import { findKeysByHashes, type KeyRef } from '../../../store/admin-api-keys.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { RevokeLeakedBody, RevokeLeakedResponse } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/admin/api-keys/revoke-leaked',
  summary: 'Revoke keys given by their plaintext (found leaked); never echoes a key',
  description:
    'Each key is hashed as a login would be (current and older peppers, legacy SHA-256); the keys found are revoked in one ' +
    'transaction, each with an api_key.revoked audit row whose details.reason is "leaked". A revoked key is denied at its next ' +
    'broker check; the reconciler deletes its vhost (closing its connections). The answer names keys by id and prefix only.',
  tags: ['Admin'],
  security: ACCESS.superAdmin.security,
  middleware: withBody(ACCESS.superAdmin.middleware),
  request: { body: jsonBody(RevokeLeakedBody) },
  responses: {
    200: json(RevokeLeakedResponse, 'Which keys were revoked now, which were already, how many are unknown'),
    ...errorResponses(ACCESS.superAdmin.errors, BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const keys = [...new Set(c.req.valid('json').keys)];
  // Every hash each key could be stored under; which key a hash came from stays here only.
  const keyOfHash = new Map<string, number>();
  keys.forEach((key, i) => {
    for (const hash of deps.hasher.candidates(key)) keyOfHash.set(hash, i);
  });
  const found = await findKeysByHashes(deps.sql, [...keyOfHash.keys()]);
  const matched = new Set<number>();
  const byId = new Map<string, KeyRef>();
  for (const row of found) {
    matched.add(keyOfHash.get(row.keyHash)!);
    byId.set(row.id, { id: row.id, keyPrefix: row.keyPrefix, organizationId: row.organizationId });
  }
  const { revoked, alreadyRevoked } = await revokeKeys(deps.sql, actorOf(c), [...byId.values()], 'leaked');
  // This instance denies them at once; other instances when the NOTIFY reaches them, and the
  // reconciler (poked by the same NOTIFY) deletes their vhosts.
  for (const k of revoked) deps.evictKey?.(k.id);
  deps.log.info(
    { revoked: revoked.map((k) => k.id), alreadyRevoked: alreadyRevoked.length, unknown: keys.length - matched.size, actorId: c.get('principal').userId },
    'leaked api keys revoked',
  );
  return c.json({ revoked, alreadyRevoked, unknown: keys.length - matched.size }, 200);
};
