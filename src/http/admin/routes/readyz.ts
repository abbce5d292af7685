import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import type { AdminEnv } from '../auth.js';
import type { AdminDeps } from '../deps.js';
import { ACCESS, json } from '../openapi.js';
import { Readiness } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/readyz',
  summary:
    'Database reachable, LISTEN up and the key table loaded on it; 503 otherwise. Details: key table size and staleness, keys awaiting broker deprovisioning',
  tags: ['Operations'],
  security: ACCESS.public.security,
  responses: {
    200: json(Readiness, 'Ready'),
    503: json(Readiness, 'Not ready (database or LISTEN down)'),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const checks = await c
    .get('deps')
    .ready()
    .catch(() => ({ database: false, listen: false }) as Awaited<ReturnType<AdminDeps['ready']>>);
  const ready = checks.database && checks.listen;
  c.header('Cache-Control', 'no-store');
  const body = {
    status: ready ? ('ready' as const) : ('not ready' as const),
    database: checks.database,
    listen: checks.listen,
    ...(checks.keyTable ? { keyTable: checks.keyTable } : {}),
    // Details only: a broker that cannot delete vhosts does not take the admin API out of service.
    ...('brokerDeprovisioning' in checks && checks.brokerDeprovisioning ? { brokerDeprovisioning: checks.brokerDeprovisioning } : {}),
    ...('broker' in checks && checks.broker ? { broker: checks.broker } : {}),
  };
  return ready ? c.json(body, 200) : c.json(body, 503);
};
