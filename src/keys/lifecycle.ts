// A key's transitions as the admin API makes them, each with its audit row in the same
// transaction: creation (the mint's row, the import of legacy keys), revocation (one key, or
// leaked keys in a batch), acknowledgement of the reveal bundle, an edit (name, allowlist). The
// SQL is in store/; what also involves the broker is beside this file: mint.ts, revoke.ts,
// test-connection.ts, probe-window.ts.
import type { JSONValue } from 'postgres';
import { findImportedKey, type ImportedKeyRef, insertLegacyKey, type KeyRef, type NewLegacyKey } from '../store/admin-api-keys.js';
import {
  type ChangeResult,
  deleteApiKey,
  type EditResult,
  editApiKey,
  getApiKey,
  insertApiKey,
  type KeyEdit,
  type KeyTransition,
  type NewApiKey,
  transitionApiKey,
} from '../store/api-keys.js';
import { type AuditEventType, deleteAuditEventsOfKey, insertAuditEvent } from '../store/audit.js';
import type { Sql } from '../store/db.js';
import type { Queryable } from '../store/queryable.js';
import type { ApiKeyView } from '../store/rows.js';
import { type UserInput, upsertUser } from '../store/users.js';

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

/** Name and/or allowlist, with its `api_key.updated` row (before → after of what changed) in the same transaction. */
export async function editKey(sql: Sql, actor: Actor, organizationId: string, id: string, edit: KeyEdit): Promise<EditResult> {
  return sql.begin(async (tx) => {
    const result = await editApiKey(tx, organizationId, id, edit);
    if (result.outcome !== 'updated') return result;
    await recordKeyEvent(tx, actor, { type: 'api_key.updated', organizationId, apiKeyId: id, details: { changes: result.changes as JSONValue } });
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

/** Why a batch of keys is revoked: `details.reason` of each key's `api_key.revoked` row. */
export type RevokeReason = 'leaked';

/**
 * The revoke transition for several keys in ONE transaction: all of them with their audit rows
 * (`details.reason`), or none. Rows are locked in id order, so concurrent batches cannot
 * deadlock (the reconciler skips locked rows). `revoked`: changed by this call;
 * `alreadyRevoked`: revoked before (by the API or SQL), left as it was, no second audit row.
 */
export async function revokeKeys(
  sql: Sql,
  actor: Actor,
  keys: readonly KeyRef[],
  reason: RevokeReason,
): Promise<{ revoked: KeyRef[]; alreadyRevoked: KeyRef[] }> {
  const ordered = [...keys].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return sql.begin(async (tx) => {
    // The actor's users row first: locked after some key rows, it would close a lock cycle with
    // a concurrent batch of the same actor holding other keys.
    await upsertUser(tx, actor.user);
    const out = { revoked: [] as KeyRef[], alreadyRevoked: [] as KeyRef[] };
    for (const key of ordered) {
      const result = await transitionApiKey(tx, key.organizationId, key.id, 'revoke');
      if (result.outcome === 'changed') {
        await insertKeyEvent(tx, actor, { type: 'api_key.revoked', organizationId: key.organizationId, apiKeyId: key.id, details: { reason } });
        out.revoked.push(key);
      } else if (result.outcome === 'unchanged') {
        out.alreadyRevoked.push(key);
      }
      // 'not-found': deleted since it was looked up; neither revoked here nor known any more.
    }
    return out;
  });
}

/** A legacy key to import, and every fingerprint an earlier import of it may carry (current pepper first). */
export interface LegacyKeyImport {
  key: NewLegacyKey;
  fingerprints: readonly string[];
}

/**
 * Imports legacy keys in ONE transaction (all or none), each new one with its `api_key.created`
 * row (`details.via: "import"`). Idempotent: a key whose SHA-256 was imported (or stored) before
 * is reported as `existing` and left exactly as it is, revoked or not. Keys are inserted in hash
 * order (concurrent imports of overlapping lists wait for each other, never deadlock) and
 * reported in the order given.
 */
export async function importKeys(
  sql: Sql,
  actor: Actor,
  keys: readonly LegacyKeyImport[],
): Promise<{ imported: ImportedKeyRef[]; existing: ImportedKeyRef[] }> {
  const order = keys.map((_, i) => i).sort((a, b) => (keys[a]!.key.keyHash < keys[b]!.key.keyHash ? -1 : 1));
  const outcomes = await sql.begin(async (tx) => {
    await upsertUser(tx, actor.user);
    const found: { imported: boolean; ref: ImportedKeyRef }[] = [];
    for (const i of order) {
      const { key, fingerprints } = keys[i]!;
      const before = await findImportedKey(tx, key.keyHash, fingerprints);
      if (before === undefined && (await insertLegacyKey(tx, key))) {
        await insertKeyEvent(tx, actor, { type: 'api_key.created', organizationId: key.organizationId, apiKeyId: key.id, details: { via: 'import' } });
        found[i] = { imported: true, ref: { id: key.id, keyPrefix: key.keyPrefix, organizationId: key.organizationId, name: key.name } };
        continue;
      }
      // The insert conflicted: a concurrent import of the same key committed first.
      const existing = before ?? (await findImportedKey(tx, key.keyHash, fingerprints));
      if (existing === undefined) throw new Error('legacy key import: the insert conflicted, yet no key holds its hash');
      found[i] = { imported: false, ref: existing };
    }
    return found;
  });
  return {
    imported: outcomes.filter((o) => o.imported).map((o) => o.ref),
    existing: outcomes.filter((o) => !o.imported).map((o) => o.ref),
  };
}
