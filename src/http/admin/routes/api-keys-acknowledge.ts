import { acknowledgeApiKey } from '../../../store/api-keys.js';
import { ApiError } from '../errors.js';
import { pathId } from '../request.js';
import { auditActorEvent } from '../actor-audit.js';
import { defineRoute } from '../route.js';
import { EmptyBody, Message } from '../schemas.js';

export const acknowledgeApiKeyRoute = defineRoute({
  method: 'post',
  path: '/api/v1/partner/api-keys/:id/acknowledge',
  summary: 'Record that the reveal bundle was saved ("I\'ve saved these"); once per key',
  tag: 'Partner',
  access: 'org',
  body: EmptyBody,
  success: { status: 200, description: 'Acknowledged (also when it already was)', schema: Message },
  errors: ['INVALID_UUID', 'API_KEY_NOT_FOUND'],
  async handle({ c, deps }) {
    const id = pathId(c);
    const org = c.get('org');
    const result = await deps.sql.begin(async (tx) => {
      const r = await acknowledgeApiKey(tx, org.id, id);
      if (r.outcome === 'changed') {
        await auditActorEvent(tx, c, { type: 'api_key.bundle_acknowledged', apiKeyId: id });
      }
      return r;
    });
    if (result.outcome === 'not-found') throw new ApiError('API_KEY_NOT_FOUND');
    return c.json({ message: 'Bundle acknowledged' }, 200);
  },
});
