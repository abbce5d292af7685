// A key's transitions as the admin API makes them, each with its audit row in the same
// transaction: creation (the mint), revocation, acknowledgement of the reveal bundle, a
// test-connection, an edit (name, allowlist), and the probe window of the service's own probes. The SQL is in store/; the broker side of
// the mint is in http/admin/mint.ts.
import type { JSONValue } from 'postgres';
import { closeProbeWindow, deleteApiKey, editApiKey, getApiKey, insertApiKey, openProbeWindow, transitionApiKey, type ChangeResult, type EditResult, type KeyEdit, type KeyTransition, type NewApiKey } from '../store/api-keys.js';
import { deleteAuditEventsOfKey, insertAuditEvent, type AuditEventType } from '../store/audit.js';
import type { Sql } from '../store/db.js';
import type { Queryable } from '../store/queryable.js';
import type { ApiKeyView } from '../store/rows.js';
import { upsertUser, type UserInput } from '../store/users.js';

/** Who acts (upserted as a users row, a key's `creator`) and from where (the audit log's ip and user agent). */
export interface Actor {
  user: UserInput;
  ip: string | null;
  userAgent: string | null;
}

/** The audit row of something an actor did to a key of an organization, in the caller's transaction. */
export async function recordKeyEvent(
  tx: Queryable,
  actor: Actor,
  event: { type: AuditEventType; organizationId: string; apiKeyId: string; details?: Record<string, JSONValue> },
): Promise<void> {
  await upsertUser(tx, actor.user);
  await insertKeyEvent(tx, actor, event);
}

async function insertKeyEvent(
  tx: Queryable,
  actor: Actor,
  event: { type: AuditEventType; organizationId: string; apiKeyId: string; details?: Record<string, JSONValue> },
): Promise<void> {
  await insertAuditEvent(tx, {
    type: event.type,
    organizationId: event.organizationId,
    apiKeyId: event.apiKeyId,
    actorId: actor.user.id,
    ip: actor.ip,
    userAgent: actor.userAgent,
    details: event.details ?? {},
  });
}

/** The key row (its creator upserted first) and its `api_key.created` event, in one transaction. */
export async function createKey(sql: Sql, actor: Actor, key: NewApiKey, details: Record<string, JSONValue>): Promise<ApiKeyView> {
  return sql.begin(async (tx) => {
    await upsertUser(tx, actor.user);
    await insertApiKey(tx, key);
    await insertKeyEvent(tx, actor, { type: 'api_key.created', organizationId: key.organizationId, apiKeyId: key.id, details });
    return (await getApiKey(tx, key.organizationId, key.id))!;
  });
}

const TRANSITION_EVENTS: Record<KeyTransition, AuditEventType> = {
  revoke: 'api_key.revoked',
  acknowledge: 'api_key.bundle_acknowledged',
};

/** Revoke or acknowledge, once: the audit row is written only when the row changed. */
export async function transitionKey(sql: Sql, actor: Actor, organizationId: string, id: string, transition: KeyTransition): Promise<ChangeResult> {
  return sql.begin(async (tx) => {
    const result = await transitionApiKey(tx, organizationId, id, transition);
    if (result.outcome === 'changed') await recordKeyEvent(tx, actor, { type: TRANSITION_EVENTS[transition], organizationId, apiKeyId: id });
    return result;
  });
}

/** How long a probe window stays open at most (and so how long a probe may take). */
export const PROBE_WINDOW_MS = 10_000;

export interface ProbeWindowContext {
  sql: Sql;
  now: () => Date;
  /** Called after the window opened and after it closed (this instance's cache; others get the NOTIFY). */
  onChange?: () => void;
}

/**
 * Runs `probe` inside the key's probe window (migrations/006): for PROBE_WINDOW_MS at most,
 * logins with this key from `ips` (the probing host's own addresses) pass its vhost check even
 * outside its allowlist. `probe` gets the time left in the window as its timeout. The window is
 * closed when the probe ends, whatever the outcome; if closing fails it ends by itself.
 */
export async function withProbeWindow<T>(ctx: ProbeWindowContext, id: string, ips: readonly string[], probe: (timeoutMs: number) => Promise<T>): Promise<T> {
  const until = new Date(ctx.now().getTime() + PROBE_WINDOW_MS);
  await openProbeWindow(ctx.sql, id, until, ips);
  ctx.onChange?.();
  try {
    return await probe(Math.max(0, until.getTime() - ctx.now().getTime()));
  } finally {
    await closeProbeWindow(ctx.sql, id, until, ctx.now()).catch(() => undefined);
    ctx.onChange?.();
  }
}

/** Name and/or allowlist, with its `api_key.updated` row (before → after of what changed) in the same transaction. */
export async function editKey(sql: Sql, actor: Actor, organizationId: string, id: string, edit: KeyEdit): Promise<EditResult> {
  return sql.begin(async (tx) => {
    const result = await editApiKey(tx, organizationId, id, edit);
    if (result.outcome !== 'updated') return result;
    const changes: Record<string, JSONValue> = {};
    if (result.before.name !== result.after.name) changes.name = { before: result.before.name, after: result.after.name };
    if (result.before.allowedIps.join() !== result.after.allowedIps.join()) changes.allowedIps = { before: result.before.allowedIps, after: result.after.allowedIps };
    await recordKeyEvent(tx, actor, { type: 'api_key.updated', organizationId, apiKeyId: id, details: { changes } });
    return result;
  });
}

/** Undo of a mint whose self-test failed: the key row and every audit row about it. */
export async function deleteKey(sql: Sql, id: string): Promise<void> {
  await sql.begin(async (tx) => {
    await deleteApiKey(tx, id);
    await deleteAuditEventsOfKey(tx, id);
  });
}
