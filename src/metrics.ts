import { createRequire } from 'node:module';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LookupOutcome } from './cache/key-table.js';
import { AUTH_PATHS, type AuthPath } from './http/auth/paths.js';
import { REST_REFUSALS, type RestRefusal } from './policy/rest.js';

/** Who asked about a key for REST: a gateway at /auth/rest, or a service at POST /api/v1/keys/verify. */
export const REST_SOURCES = ['forward', 'verify'] as const;
export type RestSource = (typeof REST_SOURCES)[number];

/**
 * A count bumped on the hot path: a plain increment. prom-client's own `labels(...).inc()` hashes
 * and validates the labels on every call; a tally is handed to its counter only when the
 * registry is read (the counter's `collect`), so what a scrape or `get()` sees is unchanged.
 */
class Tally {
  pending = 0;
  inc(): void {
    this.pending++;
  }
}

/** Moves what the tallies counted into their prom-client counter (labels with no count stay absent). */
function drain<L extends string>(counter: Counter<L>, tallies: readonly (readonly [Partial<Record<L, string>>, Tally])[]): void {
  for (const [labels, tally] of tallies) {
    if (tally.pending === 0) continue;
    counter.inc(labels, tally.pending);
    tally.pending = 0;
  }
}

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1];

/**
 * A latency histogram filled on the hot path with an index search and two additions; prom-client's
 * own `observe` builds, validates and hashes a label object on every call. Handed over at scrape.
 */
class LatencyTally {
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);
  count = 0;
  sum = 0;
  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

/** The series prom-client keeps per label set (internal, stable across v15). */
interface HistogramSeries {
  labels: Record<string, string>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** Folds a tally into its labelled series (prom-client has no bulk observe). */
function drainLatency(histogram: Histogram<'path'>, path: AuthPath, tally: LatencyTally): void {
  if (tally.count === 0) return;
  const series = (histogram as unknown as { hashMap: Record<string, HistogramSeries> }).hashMap;
  let mine = Object.values(series).find((s) => s.labels.path === path);
  if (mine === undefined) {
    histogram.zero({ path });
    mine = Object.values(series).find((s) => s.labels.path === path)!;
  }
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) mine.bucketValues[LATENCY_BUCKETS[i]!]! += tally.buckets[i]!;
  mine.sum += tally.sum;
  mine.count += tally.count;
  tally.buckets.fill(0);
  tally.count = 0;
  tally.sum = 0;
}

/**
 * prom-client's default process metrics (CPU, memory, handles, event loop lag, heap, version, …)
 * except `gc` (`nodejs_gc_duration_seconds`): its PerformanceObserver runs on every garbage
 * collection, and measured it cost the auth hot path several % of its requests/s
 * (bench/RESULTS.md). collectDefaultMetrics has no switch for one metric, so each is registered
 * as it does: `lib/metrics/<name>.js` exports `(registry, config) => void`.
 */
type DefaultMetric = (registry: Registry, config: { eventLoopMonitoringPrecision: number }) => void;
const requireFromHere = createRequire(import.meta.url);

function collectProcessMetrics(registry: Registry): void {
  for (const name of collectDefaultMetrics.metricsList) {
    if (name === 'gc') continue;
    (requireFromHere(`prom-client/lib/metrics/${name}.js`) as DefaultMetric)(registry, { eventLoopMonitoringPrecision: 10 });
  }
}

/**
 * Prometheus metrics. The hot path gets pre-bound objects so that counting a decision is an
 * increment, not a label lookup.
 */
export function createMetrics() {
  const registry = new Registry();
  collectProcessMetrics(registry);
  const bind = <T>(f: (path: AuthPath) => T) => Object.fromEntries(AUTH_PATHS.map((p) => [p, f(p)])) as Record<AuthPath, T>;

  const allow = bind(() => new Tally());
  const deny = bind(() => new Tally());
  const decisionTallies = AUTH_PATHS.flatMap((path) => [[{ path, result: 'allow' }, allow[path]] as const, [{ path, result: 'deny' }, deny[path]] as const]);
  const cacheHit = new Tally();
  const cacheMiss = new Tally();
  const cacheTallies = [
    [{ result: 'hit' }, cacheHit],
    [{ result: 'miss' }, cacheMiss],
  ] as const;

  new Counter({
    name: 'voke_auth_decisions_total',
    help: 'Broker auth decisions by path and result',
    labelNames: ['path', 'result'] as const,
    registers: [registry],
    collect() {
      drain(this, decisionTallies);
    },
  });
  const latency = bind(() => new LatencyTally());
  new Histogram({
    name: 'voke_auth_decision_seconds',
    help: 'Time to answer a broker auth call, by path',
    labelNames: ['path'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
    collect() {
      for (const path of AUTH_PATHS) drainLatency(this, path, latency[path]);
    },
  });
  new Counter({
    name: 'voke_auth_cache_total',
    help: 'Key table lookups on the hot path (hit: in the table; miss: not, then answered as voke_auth_db_lookups_total says)',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      drain(this, cacheTallies);
    },
  });
  /** REST decisions: source → 'allow' or the refusal → its tally, bound once. */
  const rest = Object.fromEntries(
    REST_SOURCES.map((source) => [source, Object.fromEntries((['allow', ...REST_REFUSALS] as const).map((result) => [result, new Tally()]))]),
  ) as Record<RestSource, Record<'allow' | RestRefusal, Tally>>;
  const restTallies = REST_SOURCES.flatMap((source) => Object.entries(rest[source]).map(([result, tally]) => [{ source, result }, tally] as const));
  new Counter({
    name: 'voke_auth_rest_decisions_total',
    help: 'REST key checks by source (forward: /auth/rest; verify: POST /api/v1/keys/verify) and result (allow, or the refusal reason)',
    labelNames: ['source', 'result'] as const,
    registers: [registry],
    collect() {
      drain(this, restTallies);
    },
  });
  const dbLookups = new Counter({
    name: 'voke_auth_db_lookups_total',
    help: 'Key lookups that reached the database, by outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const dbErrors = new Counter({ name: 'voke_auth_db_errors_total', help: 'Database errors (lookups, flushes, listener)', registers: [registry] });
  const brokerFailovers = new Counter({
    name: 'voke_auth_broker_failovers_total',
    help: 'Broker calls that moved on to the next node because one did not answer, by API (management, amqp)',
    labelNames: ['api'],
    registers: [registry],
  });
  const listenerRefused = new Counter({
    name: 'voke_auth_listener_connections_refused_total',
    help: 'Connections the auth listener closed at once because AUTH_MAX_CONNECTIONS were open',
    registers: [registry],
  });
  const listenerHandshakes = new Counter({
    name: 'voke_auth_listener_tls_handshakes_total',
    help: 'TLS handshakes the auth listener completed (the broker keeps its connections alive: far fewer than decisions)',
    registers: [registry],
  });
  const listenerHandshakeFailures = new Counter({
    name: 'voke_auth_listener_tls_handshake_failures_total',
    help: 'TLS handshakes the auth listener failed (no or an untrusted client certificate, not TLS, cut off, ...)',
    registers: [registry],
  });

  return {
    registry,
    allow,
    deny,
    latency,
    cacheHit,
    cacheMiss,
    rest,
    /** A key not in the table: looked up in the database (ok, error), denied unasked (throttled) or at the answer deadline (late). */
    dbLookup: (kind: 'hash' | 'id', outcome: LookupOutcome) => {
      dbLookups.labels(kind, outcome).inc();
      if (outcome === 'error') dbErrors.inc();
    },
    /** A connection refused at the auth listener's connection cap. */
    listenerRefused: () => listenerRefused.inc(),
    /** A completed TLS handshake on the auth listener. */
    listenerHandshake: () => listenerHandshakes.inc(),
    /** A failed TLS handshake on the auth listener. */
    listenerHandshakeFailed: () => listenerHandshakeFailures.inc(),
    /** The auth listener's open connections, read at scrape time. */
    watchListenerConnections: (read: () => number) => {
      new Gauge({
        name: 'voke_auth_listener_connections',
        help: 'Connections open on the auth listener',
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    },
    /** The key table's size and staleness, read at scrape time. */
    watchKeyTable: (read: () => { size: number; staleSince: number | null }) => {
      new Gauge({
        name: 'voke_auth_key_table_keys',
        help: 'Keys held in the in-memory key table',
        registers: [registry],
        collect() {
          this.set(read().size);
        },
      });
      new Gauge({
        name: 'voke_auth_key_table_stale',
        help: '1 while the key table may miss changes (LISTEN down or reloading), else 0',
        registers: [registry],
        collect() {
          this.set(read().staleSince === null ? 0 : 1);
        },
      });
      new Gauge({
        name: 'voke_auth_key_table_stale_since_seconds',
        help: 'Unix time since when the key table is stale; 0 while it is current',
        registers: [registry],
        collect() {
          const since = read().staleSince;
          this.set(since === null ? 0 : since / 1000);
        },
      });
    },
    dbError: () => dbErrors.inc(),
    /**
     * The reconciler's backlog (revoked or expired keys whose vhost is not deleted yet) and the
     * broker auth cache TTL the service was told about, read at scrape time.
     */
    /** A broker call moved on from a node that did not answer (management API or AMQP probe). */
    brokerFailover: (api: 'management' | 'amqp') => brokerFailovers.inc({ api }),
    /** The last check of every configured broker node, read at scrape time. */
    watchBrokerNodes: (read: () => { endpoints: { reachable: boolean | undefined }[]; membersDown: string[] } | undefined) => {
      new Gauge({
        name: 'voke_auth_broker_nodes_configured',
        help: 'Broker management endpoints configured (RABBITMQ_MANAGEMENT_URL entries)',
        registers: [registry],
        collect() {
          this.set(read()?.endpoints.length ?? 0);
        },
      });
      new Gauge({
        name: 'voke_auth_broker_nodes_unreachable',
        help: 'Configured broker management endpoints that did not answer at the last check (every 10 s) or call',
        registers: [registry],
        collect() {
          this.set(read()?.endpoints.filter((e) => e.reachable === false).length ?? 0);
        },
      });
      new Gauge({
        name: 'voke_auth_broker_cluster_members_down',
        help: 'Cluster members a reachable broker node reports as not running (their connections are gone; their part of the cluster waits for them)',
        registers: [registry],
        collect() {
          this.set(read()?.membersDown.length ?? 0);
        },
      });
    },
    watchDeprovisioning: (read: () => { pending: number; oldestSince: Date | null } | undefined, authCacheTtlMs: number, now: () => number) => {
      new Gauge({
        name: 'voke_auth_broker_deprovision_pending',
        help: 'Revoked or expired keys whose broker vhost is not deleted yet (their connections stay open; retried every pass)',
        registers: [registry],
        collect() {
          this.set(read()?.pending ?? 0);
        },
      });
      new Gauge({
        name: 'voke_auth_broker_deprovision_oldest_seconds',
        help: 'Age of the oldest revoked or expired key still awaiting vhost deletion; 0 when none',
        registers: [registry],
        collect() {
          const since = read()?.oldestSince;
          this.set(since ? Math.max(0, (now() - since.getTime()) / 1000) : 0);
        },
      });
      new Gauge({
        name: 'voke_auth_broker_auth_cache_ttl_seconds',
        help: 'The broker auth cache TTL this service is configured with (BROKER_AUTH_CACHE_TTL_MS); 0: no cache',
        registers: [registry],
        collect() {
          this.set(authCacheTtlMs / 1000);
        },
      });
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
