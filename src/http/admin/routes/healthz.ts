import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import type { AdminEnv } from '../auth.js';
import { ACCESS, json } from '../openapi.js';
import { Health } from '../schemas.js';

export const route = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'The process is up',
  tags: ['Operations'],
  security: ACCESS.public.security,
  responses: { 200: json(Health, 'Up') },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => c.json({ status: 'ok' as const }, 200);
