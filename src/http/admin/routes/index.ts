// Every route of the admin listener (but /openapi.json, which app.ts serves from the library's
// registry). One file per route: its createRoute() definition, schemas and handler. Adding a
// route = adding its file and one line here.
import type { RouteConfig, RouteHandler } from '@hono/zod-openapi';
import type { AdminEnv } from '../auth.js';
import * as importApiKeys from './admin-api-keys-import.js';
import * as revokeLeakedApiKeys from './admin-api-keys-revoke-leaked.js';
import * as searchApiKeys from './admin-api-keys-search.js';
import * as acknowledgeApiKey from './api-keys-acknowledge.js';
import * as getApiKey from './api-keys-get.js';
import * as listApiKeys from './api-keys-list.js';
import * as mintApiKey from './api-keys-mint.js';
import * as revokeApiKey from './api-keys-revoke.js';
import * as rotateApiKey from './api-keys-rotate.js';
import * as testConnection from './api-keys-test-connection.js';
import * as updateApiKey from './api-keys-update.js';
import * as listAuditEvents from './audit-events.js';
import * as healthz from './healthz.js';
import * as verifyKey from './keys-verify.js';
import * as metrics from './metrics.js';
import * as createOrganization from './organizations-create.js';
import * as listOrganizations from './organizations-list.js';
import * as readyz from './readyz.js';

export interface AdminRoute<R extends RouteConfig = RouteConfig> {
  route: R;
  handler: RouteHandler<R, AdminEnv>;
}

export const API_ROUTES: readonly AdminRoute[] = [
  healthz,
  readyz,
  metrics,
  createOrganization,
  listOrganizations,
  mintApiKey,
  listApiKeys,
  getApiKey,
  revokeApiKey,
  updateApiKey,
  testConnection,
  acknowledgeApiKey,
  rotateApiKey,
  listAuditEvents,
  searchApiKeys,
  revokeLeakedApiKeys,
  importApiKeys,
  verifyKey,
] as unknown as readonly AdminRoute[];
