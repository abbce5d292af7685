// test-connection: does a pasted key log in as the partner would? The checks that need no
// broker first, then the probe inside the key's probe window; one audit row per test.

import { toKeyRecord } from '../policy/key.js';
import { errorForLog, matchesAny, scrub } from '../secrets.js';
import { type AuthKeyRow, findKeyById } from '../store/auth-keys.js';
import type { KeyDeps } from './deps.js';
import { type Actor, recordKeyEvent } from './lifecycle.js';
import { probeInWindow } from './probe-window.js';
import { keyUsable, UNUSABLE_MESSAGES } from './usable.js';

export const BROKER_NOT_CONFIGURED = 'broker not configured (RABBITMQ_MANAGEMENT_URL is unset, or BROKER_PROVISIONING=off)';

export type ConnectionTestResult = { ok: true; durationMs: number } | { ok: false; durationMs?: number; error: string };

/**
 * Tests key `id` of the organization with the pasted secret and records an
 * `api_key.test_connection` row; 'not-found' for a key of another organization.
 */
export async function testConnection(
  deps: KeyDeps,
  actor: Actor,
  organizationId: string,
  id: string,
  pasted: string,
): Promise<ConnectionTestResult | 'not-found'> {
  // The hot path's own read of a key (the same fields its decisions use), scoped to the caller's org.
  const key = await findKeyById(deps.sql, id);
  if (key === undefined || key.organizationId !== organizationId) return 'not-found';
  const outcome = await probe(deps, key, pasted);
  const details = { ok: outcome.ok, durationMs: outcome.durationMs ?? null, error: outcome.ok ? null : outcome.error };
  await deps.sql.begin(async (tx) => {
    await recordKeyEvent(tx, actor, { type: 'api_key.test_connection', organizationId, apiKeyId: id, details });
  });
  return outcome;
}

/**
 * Checks that need no broker first: the pasted key must be this key's secret, and the key usable
 * now by the hot path's own rule (keyUsable: active, not expired, can connect); then the probe.
 */
async function probe(deps: KeyDeps, key: AuthKeyRow, pasted: string): Promise<ConnectionTestResult> {
  if (!belongsTo(deps, key, pasted)) return { ok: false, error: 'The pasted key is not the secret of this API key' };
  const record = toKeyRecord(key);
  const usable = keyUsable(record, record.orgSlug, deps.now().getTime());
  if (usable !== 'allow') return { ok: false, error: UNUSABLE_MESSAGES[usable] };
  const amqpUrl = deps.config.rabbitmqAmqpUrl;
  if (deps.broker === undefined || amqpUrl === undefined) return { ok: false, error: BROKER_NOT_CONFIGURED };
  try {
    const r = await probeInWindow(deps, deps.broker, amqpUrl, {
      keyId: key.id,
      slug: record.orgSlug,
      vhost: record.vhost,
      password: pasted,
      canPublish: record.canPublish,
    });
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
function belongsTo(deps: KeyDeps, key: AuthKeyRow, pasted: string): boolean {
  const candidates = deps.hasher.candidates(pasted).map((h) => Buffer.from(h, 'utf8'));
  if (matchesAny(candidates, Buffer.from(key.keyHash, 'utf8')) !== -1) return true;
  const previousValid = key.previousKeyHash && key.previousKeyExpiresAt && key.previousKeyExpiresAt.getTime() > deps.now().getTime();
  return previousValid ? matchesAny(candidates, Buffer.from(key.previousKeyHash!, 'utf8')) !== -1 : false;
}
