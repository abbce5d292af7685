import type { JSONValue } from 'postgres';
import type { Queryable } from './queryable.js';
import { type AuditEventRow, type AuditEventView, type Page, type PageRequest, selectPage, shown } from './rows.js';

/** Event types written by the admin API; partner.* come from the hot path (src/store/usage.ts). */
export const AUDIT_EVENT_TYPES = [
  'api_key.created',
  'api_key.revoked',
  'api_key.test_connection',
  'api_key.bundle_acknowledged',
  'api_key.updated',
  'api_key.rotated',
  'partner.connected',
  'partner.connection_refused',
  'partner.request_refused',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEventInput {
  type: AuditEventType;
  organizationId: string;
  apiKeyId: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, JSONValue>;
}

/** Writes one event; pass the transaction that makes the change it records. Returns its id. */
export async function insertAuditEvent(tx: Queryable, e: AuditEventInput): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    INSERT INTO audit_events (type, organization_id, api_key_id, actor_id, ip, user_agent, details)
    VALUES (${e.type}, ${e.organizationId}, ${e.apiKeyId}, ${e.actorId}, ${e.ip}, ${e.userAgent}, ${tx.json(e.details)})
    RETURNING id`;
  return row!.id;
}

/** Undo of a failed mint: the created event and whatever the hot path wrote about the probe. */
export async function deleteAuditEventsOfKey(sql: Queryable, apiKeyId: string): Promise<void> {
  await sql`DELETE FROM audit_events WHERE api_key_id = ${apiKeyId}`;
}

export interface AuditFilter {
  type?: string | undefined;
  apiKeyId?: string | undefined;
}

/** An organization's events, newest first. */
export async function listAuditEvents(sql: Queryable, organizationId: string, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEventView>> {
  const query = {
    columns: sql`id, type, organization_id, api_key_id, actor_id, ip, user_agent, details, created_at`,
    from: sql`
      FROM audit_events
      WHERE organization_id = ${organizationId}
      ${filter.type === undefined ? sql`` : sql`AND type = ${filter.type}`}
      ${filter.apiKeyId === undefined ? sql`` : sql`AND api_key_id = ${filter.apiKeyId}`}`,
    orderBy: sql`created_at DESC, id DESC`,
  };
  return selectPage(sql, query, page, shown<AuditEventRow>);
}
