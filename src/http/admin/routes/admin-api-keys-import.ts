import { randomUUID } from 'node:crypto';
import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { importKeys, type LegacyKeyImport } from '../../../keys/lifecycle.js';
import { organizationIdsBySlug } from '../../../store/admin-api-keys.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ApiError, invalidField } from '../errors.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { ImportApiKeysBody, ImportApiKeysResponse } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/admin/api-keys/import',
  summary: 'Import legacy keys by their SHA-256 (onto vhost "/", legacy scope expansion); idempotent on the hash',
  description:
    'All keys of a call are imported in one transaction, or none. A key whose SHA-256 was imported (or stored) before is ' +
    'reported under existing and left as it is (a revoked one stays revoked). Each new key gets an api_key.created audit ' +
    'row with details.via "import". Imported keys have no signing key.',
  tags: ['Admin'],
  security: ACCESS.superAdmin.security,
  middleware: withBody(ACCESS.superAdmin.middleware),
  request: { body: jsonBody(ImportApiKeysBody) },
  responses: {
    200: json(ImportApiKeysResponse, 'The keys imported by this call, and those that already were'),
    ...errorResponses(ACCESS.superAdmin.errors, ['ORGANIZATION_NOT_FOUND'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const { keys } = c.req.valid('json');
  const now = deps.now();
  keys.forEach((k, i) => {
    // An expired key would only make the reconciler close its organization's "/" connections.
    if (k.expiresAt !== null && k.expiresAt <= now) throw invalidField(`body.keys.${i}.expiresAt`, 'must be in the future (an expired key is not imported)');
    if (k.createdAt !== undefined && k.createdAt > now) throw invalidField(`body.keys.${i}.createdAt`, 'must not be in the future');
  });
  const orgIds = await organizationIdsBySlug(deps.sql, [...new Set(keys.map((k) => k.organizationSlug))]);
  const missing = [...new Set(keys.map((k) => k.organizationSlug).filter((s) => !orgIds.has(s)))];
  if (missing.length > 0) {
    throw new ApiError('ORGANIZATION_NOT_FOUND', `No organization with slug ${missing.map((s) => `"${s}"`).join(', ')}; nothing was imported`, {
      organizationSlugs: missing,
    });
  }
  const createdBy = c.get('principal').userId;
  const batch: LegacyKeyImport[] = keys.map((k) => {
    const id = randomUUID();
    // Fingerprints: the SHA-256 under every pepper.
    const fingerprints = deps.hasher.peppered(k.keySha256);
    return {
      fingerprints,
      key: {
        id,
        organizationId: orgIds.get(k.organizationSlug)!,
        keyHash: k.keySha256,
        importFingerprint: fingerprints[0]!,
        keyPrefix: k.keyPrefix ?? `legacy_${id.slice(0, 5)}`,
        name: k.name,
        partnerId: k.partnerId,
        scopes: k.scopes,
        allowedIps: k.allowedIps,
        allowedPlantIds: k.allowedPlantIds,
        expiresAt: k.expiresAt,
        createdAt: k.createdAt ?? now,
        createdBy,
      },
    };
  });
  const result = await importKeys(deps.sql, actorOf(c), batch);
  // A key tried before its import is remembered as unknown: drop that here at once.
  for (const k of result.imported) deps.evictKey?.(k.id);
  deps.log.info({ imported: result.imported.map((k) => k.id), existing: result.existing.length, actorId: createdBy }, 'legacy api keys imported');
  return c.json(result, 200);
};
