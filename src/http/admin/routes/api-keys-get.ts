import { getApiKey } from '../../../store/api-keys.js';
import { ApiError } from '../errors.js';
import { pathId } from '../request.js';
import { defineRoute } from '../route.js';
import { ApiKey } from '../schemas.js';

export const getApiKeyRoute = defineRoute({
  method: 'get',
  path: '/api/v1/partner/api-keys/:id',
  summary: 'One API key of the organization',
  tag: 'Partner',
  access: 'org',
  success: { status: 200, description: 'The key (never its secret)', schema: ApiKey },
  errors: ['INVALID_UUID', 'API_KEY_NOT_FOUND'],
  async handle({ c, deps }) {
    const key = await getApiKey(deps.sql, c.get('org').id, pathId(c));
    if (key === undefined) throw new ApiError('API_KEY_NOT_FOUND');
    return c.json(key, 200);
  },
});
