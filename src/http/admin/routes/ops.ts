import { defineRoute } from '../route.js';
import { Health, Readiness } from '../schemas.js';

export const healthz = defineRoute({
  method: 'get',
  path: '/healthz',
  summary: 'The process is up',
  tag: 'Operations',
  access: 'public',
  success: { status: 200, description: 'Up', schema: Health },
  errors: [],
  async handle({ c }) {
    return c.json({ status: 'ok' as const }, 200);
  },
});

export const readyz = defineRoute({
  method: 'get',
  path: '/readyz',
  summary: 'Database reachable and cache invalidation (LISTEN) up; 503 otherwise',
  tag: 'Operations',
  access: 'public',
  success: { status: 200, description: 'Ready', schema: Readiness },
  alsoAnswers: [{ status: 503, description: 'Not ready (database or LISTEN down)' }],
  errors: [],
  async handle({ c, deps }) {
    const checks = await deps.ready().catch(() => ({ database: false, listen: false }));
    const ready = checks.database && checks.listen;
    c.header('Cache-Control', 'no-store');
    return c.json({ status: ready ? 'ready' : 'not ready', database: checks.database, listen: checks.listen }, ready ? 200 : 503);
  },
});

export const metrics = defineRoute({
  method: 'get',
  path: '/metrics',
  summary: 'Prometheus metrics',
  tag: 'Operations',
  access: 'public',
  success: { status: 200, description: 'Prometheus text exposition', contentType: 'text/plain' },
  errors: [],
  async handle({ c, deps }) {
    const { contentType, body } = await deps.metrics();
    return c.body(body, 200, { 'Content-Type': contentType });
  },
});
