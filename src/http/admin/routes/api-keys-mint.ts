import { requestMeta } from '../request.js';
import { mintApiKey } from '../mint.js';
import { defineRoute } from '../route.js';
import { CreateApiKeyBody, CreateApiKeyResponse } from '../schemas.js';

export const mintApiKeyRoute = defineRoute({
  method: 'post',
  path: '/api/v1/partner/api-keys',
  summary: 'Create an API key (plaintext key and signing key returned once)',
  tag: 'Partner',
  access: 'org',
  body: CreateApiKeyBody,
  success: { status: 201, description: 'Created; the only response that ever holds the key', schema: CreateApiKeyResponse },
  errors: ['VALIDATION_ERROR', 'BROKER_SELF_TEST_FAILED'],
  async handle({ c, deps, body }) {
    const result = await mintApiKey(deps, { org: c.get('org'), actor: c.get('principal'), input: body, meta: requestMeta(c) });
    return c.json(result, 201);
  },
});
