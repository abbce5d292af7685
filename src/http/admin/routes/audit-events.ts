import { listAuditEvents } from '../../../store/audit.js';
import { pageOf as page } from '../../../store/rows.js';
import { defineRoute } from '../route.js';
import { AuditEvent, AuditEventsQuery, pageOf } from '../schemas.js';

export const listAuditEventsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/partner/audit-events',
  summary: 'Audit log of the organization (newest first)',
  tag: 'Partner',
  access: 'org',
  query: AuditEventsQuery,
  success: { status: 200, description: 'A page of audit events', schema: pageOf(AuditEvent) },
  errors: ['VALIDATION_ERROR'],
  async handle({ c, deps, query }) {
    const { page: p, limit, type, apiKeyId } = query;
    const { rows, total } = await listAuditEvents(deps.sql, c.get('org').id, { type, apiKeyId: apiKeyId?.toLowerCase() }, { page: p, limit });
    return c.json(page(rows, total, { page: p, limit }), 200);
  },
});
