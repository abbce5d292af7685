// A key's transitions as the admin API makes them, each with its audit row in the same
// transaction: creation (the mint), revocation, acknowledgement of the reveal bundle, a
// test-connection, and the mint's self-test window. The SQL is in store/; the broker side of
// the mint is in http/admin/mint.ts.
import type { JSONValue } from 'postgres';
import { deleteApiKey, getApiKey, insertApiKey, setSelfTestWindow, transitionApiKey, type ChangeResult, type KeyTransition, type NewApiKey } from '../store/api-keys.js';
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

/**
 * The mint's self-test window (migrations/003): while open, the new key may log in from the
 * minting service's address, outside its allowlist. Opened for 30 s before the probe, closed
 * once it passed.
 */
export const openSelfTestWindow = (sql: Sql, id: string): Promise<void> => setSelfTestWindow(sql, id, '30 seconds');
export const closeSelfTestWindow = (sql: Sql, id: string): Promise<void> => setSelfTestWindow(sql, id, '0 seconds');

/** Undo of a mint whose self-test failed: the key row and every audit row about it. */
export async function deleteKey(sql: Sql, id: string): Promise<void> {
  await sql.begin(async (tx) => {
    await deleteApiKey(tx, id);
    await deleteAuditEventsOfKey(tx, id);
  });
}
