import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { timingSafeEqual } from 'node:crypto';
import { getKeyProbeTarget, type KeyProbeTarget } from '../../../store/api-keys.js';
import type { AdminDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { auditActorEvent } from '../actor-audit.js';
import type { AdminEnv } from '../auth.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { ApiKeyIdParam, TestConnectionBody, TestConnectionResponse } from '../schemas.js';
import { errorForLog, scrub } from '../../../secrets.js';

export const PROBE_TIMEOUT_MS = 10_000;
export const BROKER_NOT_CONFIGURED = 'broker not configured (RABBITMQ_MANAGEMENT_URL is unset)';

type Outcome = { ok: true; durationMs: number } | { ok: false; durationMs?: number; error: string };

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
    ...errorResponses(ACCESS.org.errors, BODY_ERRORS, ['INVALID_UUID', 'API_KEY_NOT_FOUND']),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const { id } = c.req.valid('param');
  const target = await getKeyProbeTarget(deps.sql, c.get('org').id, id);
  if (target === undefined) throw new ApiError('API_KEY_NOT_FOUND');

  const outcome = await probe(deps, target, c.req.valid('json').key);
  await deps.sql.begin(async (tx) => {
    await auditActorEvent(tx, c, { type: 'api_key.test_connection', apiKeyId: id, details: { ok: outcome.ok, durationMs: outcome.durationMs ?? null, error: outcome.ok ? null : outcome.error } });
  });
  return c.json(outcome, 200);
};

/** Checks that need no broker first (wrong key, revoked, expired), then the real probe. */
async function probe(deps: AdminDeps, target: KeyProbeTarget, pasted: string): Promise<Outcome> {
  if (!belongsTo(deps, target, pasted)) return { ok: false, error: 'The pasted key is not the secret of this API key' };
  if (!target.isActive || target.revokedAt !== null) return { ok: false, error: 'This API key is revoked' };
  if (target.expiresAt !== null && target.expiresAt.getTime() <= deps.now().getTime()) return { ok: false, error: 'This API key has expired' };
  const amqpUrl = deps.config.rabbitmqAmqpUrl;
  if (deps.broker === undefined || amqpUrl === undefined) return { ok: false, error: BROKER_NOT_CONFIGURED };
  try {
    const r = await deps.broker.probe({
      amqpUrl,
      username: target.slug,
      password: pasted,
      vhost: target.vhost ?? '/',
      slug: target.slug,
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    const durationMs = Math.max(0, Math.round(r.durationMs));
    return r.ok ? { ok: true, durationMs } : { ok: false, durationMs, error: scrub(r.error, [pasted]) };
  } catch (err) {
    deps.log.warn({ apiKeyId: target.id, reason: errorForLog(err, [pasted]).message }, 'test-connection probe threw');
    return { ok: false, error: 'The broker probe failed unexpectedly' };
  }
}

/** Does the pasted key hash to this key's stored hash (current pepper, older ones, plain SHA-256)? */
function belongsTo(deps: AdminDeps, target: KeyProbeTarget, pasted: string): boolean {
  const stored = Buffer.from(target.keyHash, 'utf8');
  let match = false;
  for (const candidate of deps.hasher.candidates(pasted)) {
    const c = Buffer.from(candidate, 'utf8');
    if (c.length === stored.length && timingSafeEqual(c, stored)) match = true;
  }
  return match;
}
