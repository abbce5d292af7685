import type { Context } from 'hono';
import { insertAuditEvent, type AuditEventInput } from '../../store/audit.js';
import type { Queryable } from '../../store/queryable.js';
import { upsertUser } from '../../store/users.js';
import { actorUser, type AdminEnv } from './auth.js';
import { requestMeta } from './request.js';

/**
 * An audit row for something the caller did to one of its org's keys, in the caller's
 * transaction: who (the principal, upserted as a user), from where (IP, user agent), what.
 */
export async function auditActorEvent(
  tx: Queryable,
  c: Context<AdminEnv>,
  event: { type: AuditEventInput['type']; apiKeyId: string; details?: AuditEventInput['details'] },
): Promise<void> {
  const principal = c.get('principal');
  await upsertUser(tx, actorUser(principal));
  await insertAuditEvent(tx, {
    type: event.type,
    organizationId: c.get('org').id,
    apiKeyId: event.apiKeyId,
    actorId: principal.userId,
    ...requestMeta(c),
    details: event.details ?? {},
  });
}
