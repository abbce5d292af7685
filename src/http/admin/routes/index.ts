import type { AnyRoute } from '../route.js';
import { acknowledgeApiKeyRoute } from './api-keys-acknowledge.js';
import { getApiKeyRoute } from './api-keys-get.js';
import { listApiKeysRoute } from './api-keys-list.js';
import { mintApiKeyRoute } from './api-keys-mint.js';
import { revokeApiKeyRoute } from './api-keys-revoke.js';
import { testConnectionRoute } from './api-keys-test-connection.js';
import { listAuditEventsRoute } from './audit-events.js';
import { healthz, metrics, readyz } from './ops.js';
import { createOrganizationRoute, listOrganizationsRoute } from './organizations.js';

/** Every route of the admin listener except /openapi.json (which openapi.ts adds). */
export const API_ROUTES: readonly AnyRoute[] = [
  healthz,
  readyz,
  metrics,
  createOrganizationRoute,
  listOrganizationsRoute,
  mintApiKeyRoute,
  listApiKeysRoute,
  getApiKeyRoute,
  revokeApiKeyRoute,
  testConnectionRoute,
  acknowledgeApiKeyRoute,
  listAuditEventsRoute,
];
