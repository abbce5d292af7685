import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { keyUsable, matchesAny, UNUSABLE_MESSAGES } from '../../../keys/usable.js';
import { toKeyRecord } from '../../../policy/key.js';
import { findKeyById, type AuthKeyRow } from '../../../store/auth-keys.js';
import type { AdminDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { PROBE_WINDOW_MS, recordKeyEvent, withProbeWindow } from '../../../keys/lifecycle.js';
import { probeSourceAddresses } from '../../../broker/probe.js';
import { actorOf } from '../actor.js';
import type { AdminEnv } from '../auth.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { ApiKeyIdParam, TestConnectionBody, TestConnectionResponse } from '../schemas.js';
import { errorForLog, scrub } from '../../../secrets.js';

export const BROKER_NOT_CONFIGURED = 'broker not configured (RABBITMQ_MANAGEMENT_URL is unset, or BROKER_PROVISIONING=off)';

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
    ...errorResponses(ACCESS.org.errors, ['INVALID_UUID', 'API_KEY_NOT_FOUND'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const { id } = c.req.valid('param');
  // The hot path's own read of a key (the same fields its decisions use), scoped to the caller's org.
  const key = await findKeyById(deps.sql, id);
  if (key === undefined || key.organizationId !== c.get('org').id) throw new ApiError('API_KEY_NOT_FOUND');

  const outcome = await probe(deps, key, c.req.valid('json').key);
  await deps.sql.begin(async (tx) => {
    await recordKeyEvent(tx, actorOf(c), { type: 'api_key.test_connection', organizationId: key.organizationId, apiKeyId: id, details: { ok: outcome.ok, durationMs: outcome.durationMs ?? null, error: outcome.ok ? null : outcome.error } });
  });
  return c.json(outcome, 200);
};

/**
 * Checks that need no broker first: the pasted key must be this key's secret, and the key usable
 * now by the hot path's own rule (keyUsable: active, not expired, can connect); then the probe.
 */
async function probe(deps: AdminDeps, key: AuthKeyRow, pasted: string): Promise<Outcome> {
  if (!belongsTo(deps, key, pasted)) return { ok: false, error: 'The pasted key is not the secret of this API key' };
  const record = toKeyRecord(key);
  const usable = keyUsable(record, record.orgSlug, deps.now().getTime());
  if (usable !== 'allow') return { ok: false, error: UNUSABLE_MESSAGES[usable] };
  const amqpUrl = deps.config.rabbitmqAmqpUrl;
  if (deps.broker === undefined || amqpUrl === undefined) return { ok: false, error: BROKER_NOT_CONFIGURED };
  const broker = deps.broker;
  try {
    // The probe logs in from this host: the key's probe window admits this host's own addresses
    // (and nothing else) for the probe's duration, so a key whose allowlist excludes us still passes.
    const ips = await probeSourceAddresses(amqpUrl);
    const r = await withProbeWindow({ sql: deps.sql, now: deps.now, onChange: () => deps.evictKey?.(key.id) }, key.id, ips, (timeoutMs) =>
      broker.probe({ amqpUrl, username: record.orgSlug, password: pasted, vhost: record.vhost, slug: record.orgSlug, timeoutMs }),
    );
    const durationMs = Math.max(0, Math.round(r.durationMs));
    return r.ok ? { ok: true, durationMs } : { ok: false, durationMs, error: scrub(r.error, [pasted]) };
  } catch (err) {
    deps.log.warn({ apiKeyId: key.id, reason: errorForLog(err, [pasted]).message }, 'test-connection probe threw');
    return { ok: false, error: 'The broker probe failed unexpectedly' };
  }
}

/**
 * Does the pasted key hash to this key's stored hash (current pepper, older ones, plain SHA-256),
 * or to its previous secret's while a rotation's overlap lasts?
 */
function belongsTo(deps: AdminDeps, key: AuthKeyRow, pasted: string): boolean {
  const candidates = deps.hasher.candidates(pasted).map((h) => Buffer.from(h, 'utf8'));
  if (matchesAny(candidates, Buffer.from(key.keyHash, 'utf8')) !== -1) return true;
  const previousValid = key.previousKeyHash && key.previousKeyExpiresAt && key.previousKeyExpiresAt.getTime() > deps.now().getTime();
  return previousValid ? matchesAny(candidates, Buffer.from(key.previousKeyHash!, 'utf8')) !== -1 : false;
}
