import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const AUTH_PATHS = ['user', 'vhost', 'resource', 'topic'] as const;
export type AuthPath = (typeof AUTH_PATHS)[number];

/**
 * Prometheus metrics. The hot path gets pre-bound children so that counting a decision is an
 * increment, not a label lookup.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const decisions = new Counter({
    name: 'voke_auth_decisions_total',
    help: 'Broker auth decisions by path and result',
    labelNames: ['path', 'result'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'voke_auth_decision_seconds',
    help: 'Time to answer a broker auth call, by path',
    labelNames: ['path'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [registry],
  });
  const cache = new Counter({
    name: 'voke_auth_cache_total',
    help: 'Key cache lookups on the hot path (hit, miss, negative = known-missing hit)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const dbLookups = new Counter({
    name: 'voke_auth_db_lookups_total',
    help: 'Key lookups that reached the database, by outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const dbErrors = new Counter({ name: 'voke_auth_db_errors_total', help: 'Database errors (lookups, flushes, listener)', registers: [registry] });

  const bind = <T>(f: (path: AuthPath) => T) =>
    Object.fromEntries(AUTH_PATHS.map((p) => [p, f(p)])) as Record<AuthPath, T>;
  return {
    registry,
    allow: bind((p) => decisions.labels(p, 'allow')),
    deny: bind((p) => decisions.labels(p, 'deny')),
    latency: bind((p) => latency.labels(p)),
    cacheHit: cache.labels('hit'),
    cacheMiss: cache.labels('miss'),
    cacheNegative: cache.labels('negative'),
    dbLookup: (kind: 'hash' | 'id', ok: boolean) => {
      dbLookups.labels(kind, ok ? 'ok' : 'error').inc();
      if (!ok) dbErrors.inc();
    },
    dbError: () => dbErrors.inc(),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
