import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import type { AdminEnv } from '../auth.js';
import { ACCESS } from '../openapi.js';

export const route = createRoute({
  method: 'get',
  path: '/metrics',
  summary: 'Prometheus metrics',
  tags: ['Operations'],
  security: ACCESS.public.security,
  responses: { 200: { description: 'Prometheus text exposition', content: { 'text/plain': { schema: z.string() } } } },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const { contentType, body } = await c.get('deps').metrics();
  return c.text(body, 200, { 'Content-Type': contentType });
};
