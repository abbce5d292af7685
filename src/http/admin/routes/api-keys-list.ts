import { listApiKeys } from '../../../store/api-keys.js';
import { pageOf as page } from '../../../store/rows.js';
import { defineRoute } from '../route.js';
import { ApiKey, PageQuery, pageOf } from '../schemas.js';

export const listApiKeysRoute = defineRoute({
  method: 'get',
  path: '/api/v1/partner/api-keys',
  summary: 'List API keys of the organization (newest first)',
  tag: 'Partner',
  access: 'org',
  query: PageQuery,
  success: { status: 200, description: 'A page of API keys', schema: pageOf(ApiKey) },
  errors: ['VALIDATION_ERROR'],
  async handle({ c, deps, query }) {
    const { rows, total } = await listApiKeys(deps.sql, c.get('org').id, query);
    return c.json(page(rows, total, query), 200);
  },
});
