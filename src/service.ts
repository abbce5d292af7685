// Wiring: one process, two listeners (auth hot path, admin API), one database, one key table.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { enforceAllowlist } from './broker/allowlist-enforcer.js';
import { brokerServiceUser } from './broker/definitions.js';
import { type DenyReasonSwitch, startDenyReasons } from './broker/deny-reasons.js';
import { BrokerError, type BrokerNodesStatus, createBrokerAdmin } from './broker/management.js';
import type { NodeState } from './broker/nodes.js';
import { probeAnyNode } from './broker/probe.js';
import { type Reconciler, startReconciler } from './broker/reconciler.js';
import { createSelfTest } from './broker/self-test.js';
import { type ChangeListener, listenForChanges } from './cache/invalidation.js';
import { KeyTable } from './cache/key-table.js';
import type { Config } from './config/index.js';
import { createAdminApp } from './http/admin/app.js';
import type { AdminBroker } from './http/admin/deps.js';
import { createAnswers } from './http/auth/answers.js';
import { createForwardAuth, REST_PATH } from './http/auth/rest.js';
import { type AuthTimeouts, createAuthServer } from './http/auth/server.js';
import { KeyHasher } from './keys/hash.js';
import { createRestCheck, type RestCheck } from './keys/rest-check.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { errorForLog } from './secrets.js';
import { findActiveKeysOfOrganization, findKeyByHashes, findKeyById, loadActiveKeys, rewriteKeyHash } from './store/auth-keys.js';
import type { Database } from './store/db.js';
import { migrate } from './store/migrate.js';
import { openDatabase } from './store/open.js';
import { SecretUseRecorder } from './store/secret-uses.js';
import { UsageRecorder } from './store/usage.js';

export interface ServiceOptions {
  config: Config;
  log: Logger;
  /** Overrides config.databaseUrl (tests point several instances at one database). */
  databaseUrl?: string;
  usageFlushMs?: number;
  refusalWindowMs?: number;
  listenRetryMs?: number;
  /** Build the admin listener too (default true). */
  admin?: boolean;
  now?: () => number;
  /** Reconciler pass interval (expiry is found this often); default 1000. */
  reconcileIntervalMs?: number;
  /** Database lookups per second for keys not in the table; default AUTH_MISS_LOOKUPS_PER_SECOND or 50. */
  missLookupsPerSecond?: number;
  /** How long a call waits for a database lookup of a key not in the table; default 80 ms (KeyTable answerDeadlineMs). */
  missAnswerDeadlineMs?: number;
  /** When the auth listener closes slow or silent connections; default DEFAULT_AUTH_TIMEOUTS. */
  authTimeouts?: AuthTimeouts;
  /** How often every configured broker node is asked whether it answers (and which cluster members run); default 10000. */
  brokerCheckIntervalMs?: number;
  /** How often the auth listener's certificate files are looked at for a change; default 30 s. */
  tlsReloadCheckMs?: number;
  /** How often the broker's version is asked again (AUTH_DENY_REASONS=auto); default 60000. */
  brokerVersionIntervalMs?: number;
}

export interface RunningService {
  authUrl: string;
  adminUrl: string | undefined;
  db: Database;
  table: KeyTable;
  usage: UsageRecorder;
  metrics: Metrics;
  changes: ChangeListener;
  /** Present when RABBITMQ_MANAGEMENT_URL is set. */
  reconciler: Reconciler | undefined;
  /** Whether refusals carry their reason now (the broker's version, AUTH_DENY_REASONS). */
  denyReasons: DenyReasonSwitch;
  /** How many change notifications this instance has applied to its cache. */
  changesApplied(): number;
  stop(): Promise<void>;
}

/** Any listener: node:http's Server is a node:net Server. */
function listen(server: NetServer, port: number, host: string, scheme: 'http' | 'https' = 'http'): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${bound}`);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { config, log } = options;
  const now = options.now ?? Date.now;
  const db: Database = await openDatabase({ ...config, databaseUrl: options.databaseUrl ?? config.databaseUrl }, (m) => log.warn(m));
  await migrate(db.sql);

  const metrics = createMetrics();
  const hasher = new KeyHasher(config.peppers);
  const table = new KeyTable(
    {
      loadAll: (onRows) => loadActiveKeys(db.sql, onRows),
      byHashes: (hashes) => findKeyByHashes(db.sql, hashes),
      byId: (id) => findKeyById(db.sql, id),
      byOrganization: (orgId) => findActiveKeysOfOrganization(db.sql, orgId),
      rewriteHash: (id, from, to) => rewriteKeyHash(db.sql, id, from, to),
    },
    {
      missLookupsPerSecond: options.missLookupsPerSecond ?? config.missLookupsPerSecond,
      answerDeadlineMs: options.missAnswerDeadlineMs,
      now,
      onLookup: metrics.dbLookup,
      onRewriteError: (err) => log.warn({ err: errorForLog(err) }, 'could not rewrite a legacy key hash'),
      onError: (err) => {
        metrics.dbError();
        log.warn({ err: errorForLog(err) }, 'could not re-read a changed key; it is answered from the database until the next reload');
      },
    },
  );
  metrics.watchKeyTable(() => ({ size: table.size, staleSince: table.staleSince }));
  const brokerAdmin =
    config.rabbitmqManagementUrls.length > 0
      ? createBrokerAdmin({
          managementUrl: config.rabbitmqManagementUrls,
          serviceUser: brokerServiceUser(),
          queueType: config.brokerQueueType,
          onFailover: (from, err) => {
            metrics.brokerFailover('management');
            log.warn({ node: from, err: errorForLog(err) }, 'broker management API node did not answer; trying the next');
          },
        })
      : undefined;
  const brokerNodes = brokerAdmin
    ? watchBrokerNodes(
        () => brokerAdmin.checkNodes(),
        () => brokerAdmin.nodeStates(),
        options.brokerCheckIntervalMs ?? 10_000,
      )
    : undefined;
  if (brokerNodes) metrics.watchBrokerNodes(() => brokerNodes.last());
  const reconciler = brokerAdmin
    ? startReconciler({
        sql: db.sql,
        broker: brokerAdmin,
        intervalMs: options.reconcileIntervalMs,
        authCacheTtlMs: config.brokerAuthCacheTtlMs,
        onError: (err, keyId) =>
          err instanceof BrokerError && err.code === 'deferred'
            ? log.debug({ keyId, reason: err.message }, 'vhost deletion deferred while a cluster member is down')
            : log.warn({ keyId, err: errorForLog(err) }, 'could not deprovision a revoked or expired key; will retry'),
        onDeprovisioned: (keyId, vhost) => log.info({ keyId, vhost }, 'revoked or expired key deprovisioned on the broker'),
        onRotationCloseout: (keyId, vhost, r) =>
          log.info({ keyId, vhost, closed: r.closed, ambiguous: r.ambiguous }, 'closed connections opened with a replaced secret of a rotated key'),
      })
    : undefined;
  if (reconciler) metrics.watchDeprovisioning(() => reconciler.backlog(), config.brokerAuthCacheTtlMs, now);

  let changesApplied = 0;
  // Loads the whole key table before the auth listener starts (and again on every reconnect).
  const changes = await listenForChanges(db.url, table, {
    retryMs: options.listenRetryMs,
    onChange: (payload) => {
      changesApplied++;
      if (payload.startsWith('api_keys:')) reconciler?.poke();
    },
    onError: (err) => {
      metrics.dbError();
      log.warn({ err: errorForLog(err), staleSince: table.staleSince }, 'key table LISTEN is down or could not reload; answering from the table, retrying');
    },
    onReload: () => log.info({ keys: table.size }, 'key table loaded'),
  });
  const usage = new UsageRecorder(db.sql, {
    flushIntervalMs: options.usageFlushMs,
    refusalWindowMs: options.refusalWindowMs,
    now,
    onError: (err) => {
      metrics.dbError();
      log.warn({ err: errorForLog(err) }, 'could not write key usage; kept for the next flush');
    },
  });
  usage.start();
  const secretUses = new SecretUseRecorder(db.sql, {
    onError: (err) => {
      metrics.dbError();
      log.warn({ err: errorForLog(err) }, 'could not write the secret uses of rotated keys; kept for the next flush');
    },
  });
  secretUses.start();

  const denyReasons = startDenyReasons({
    mode: config.denyReasons,
    brokerVersion: brokerAdmin ? () => brokerAdmin.version() : undefined,
    intervalMs: options.brokerVersionIntervalMs,
    onChange: (enabled, brokerVersion, err) =>
      err === undefined
        ? log.info(
            { brokerVersion, denyReasons: enabled },
            enabled ? 'broker understands refusal reasons: sending "deny <reason>"' : 'broker predates 4.3: refusals are a plain "deny"',
          )
        : log.warn({ err: errorForLog(err) }, 'could not read the broker version: refusals are a plain "deny" until it can be read'),
  });
  // Rotated keys' vhost checks are recorded until their close-outs can no longer need them.
  const secretUseTailMs = 60_000 + 2 * Math.max(0, config.brokerAuthCacheTtlMs);
  const answers = createAnswers({ table, hasher, usage, metrics, now, denyReasons, secretUses, secretUseTailMs });
  // REST requests are checked against the same table and rules (forward auth here, verify on the admin listener).
  const checkKey = createRestCheck({ table, hasher, usage, metrics, now });
  const authServer = createAuthServer(answers, metrics, {
    timeouts: options.authTimeouts,
    maxConnections: config.authMaxConnections,
    tls: config.authTls,
    tlsReloadCheckMs: options.tlsReloadCheckMs,
    log,
    routes: new Map([[REST_PATH, createForwardAuth(checkKey, config.trustedProxies)]]),
  });
  const authUrl = await listen(authServer.server, config.authPort, config.host, authServer.scheme);

  let adminServer: Server | undefined;
  let adminUrl: string | undefined;
  if (options.admin !== false) {
    const broker: AdminBroker | undefined = brokerAdmin && {
      provisionKeyVhost: (input) => brokerAdmin.provisionKeyVhost(input),
      deprovisionVhost: (vhost) => brokerAdmin.deprovisionVhost(vhost),
      // The topology of the configured queue type, then the partner check through every node of
      // RABBITMQ_AMQP_URL in turn (the admin routes pass the first as args.amqpUrl).
      probe: createSelfTest(brokerAdmin, config.brokerQueueType, (args) =>
        probeAnyNode({
          ...args,
          amqpUrls: config.rabbitmqAmqpUrls,
          onFailover: (from, error) => {
            metrics.brokerFailover('amqp');
            log.warn({ node: new URL(from).host, error }, 'broker AMQP node did not answer the probe; trying the next');
          },
        }),
      ),
      enforceAllowlist: (vhost, allowedIps) =>
        void enforceAllowlist(brokerAdmin, vhost, allowedIps, {
          onError: (err) => log.warn({ vhost, err: errorForLog(err) }, 'could not close connections outside a narrowed allowlist; next pass retries'),
        }).then((closed) => closed > 0 && log.info({ vhost, closed }, 'closed connections outside a narrowed allowlist')),
    };
    const started = startAdmin({ config, log, db, hasher, metrics, changes, now, broker, table, reconciler, brokerNodes, checkKey });
    adminServer = started.server;
    adminUrl = await listen(adminServer, config.adminPort, config.host);
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all([authServer.close(), adminServer ? close(adminServer) : undefined]);
      denyReasons.stop();
      await usage.stop();
      await secretUses.stop();
      await reconciler?.stop();
      brokerNodes?.stop();
      await changes.stop();
      await db.close();
    })());

  return { authUrl, adminUrl, db, table, usage, metrics, changes, reconciler, denyReasons, changesApplied: () => changesApplied, stop };
}

function startAdmin(parts: {
  config: Config;
  log: Logger;
  db: Database;
  hasher: KeyHasher;
  metrics: Metrics;
  changes: ChangeListener;
  now: () => number;
  broker: AdminBroker | undefined;
  table: KeyTable;
  reconciler: Reconciler | undefined;
  brokerNodes: BrokerNodesWatch | undefined;
  checkKey: RestCheck;
}): { server: Server } {
  const { config, log, db, hasher, metrics, changes, now, broker, table, reconciler, brokerNodes, checkKey } = parts;
  const app = createAdminApp({
    sql: db.sql,
    config,
    log,
    hasher,
    now: () => new Date(now()),
    broker,
    evictKey: (id) => table.keyChanged(id),
    checkKey,
    // listen: LISTEN up and the table reloaded on it; staleSince says since when it is not.
    ready: async () => ({
      database: await databaseReachable(db),
      listen: changes.listening(),
      keyTable: { keys: table.size, stale: table.staleSince !== null, staleSince: table.staleSince === null ? null : new Date(table.staleSince).toISOString() },
      brokerDeprovisioning: deprovisioningDetails(reconciler, config.brokerAuthCacheTtlMs),
      broker: brokerNodesDetails(brokerNodes?.last(), config),
    }),
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
  });
  return { server: createServer(getRequestListener(app.fetch)) };
}

/** /readyz details: what the reconciler still owes (does not make the instance unready). */
function deprovisioningDetails(reconciler: Reconciler | undefined, authCacheTtlMs: number) {
  const backlog = reconciler?.backlog();
  if (!reconciler) return undefined;
  return {
    pending: backlog?.pending ?? 0,
    oldestSince: backlog?.oldestSince ? backlog.oldestSince.toISOString() : null,
    brokerAuthCacheTtlMs: authCacheTtlMs,
  };
}

interface BrokerNodesWatch {
  /** The last check; undefined before the first ends. */
  last(): BrokerNodesStatus | undefined;
  stop(): void;
}

/**
 * Asks every configured broker node now and every `intervalMs` (for /readyz and /metrics); the
 * endpoints' states are live (every broker call updates them), the cluster members as of the check.
 */
function watchBrokerNodes(check: () => Promise<BrokerNodesStatus>, live: () => NodeState[], intervalMs: number): BrokerNodesWatch {
  let last: BrokerNodesStatus | undefined;
  let busy = false;
  const run = () => {
    if (busy) return;
    busy = true;
    void check()
      .then((status) => (last = status))
      .finally(() => (busy = false));
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return { last: () => last && { ...last, endpoints: live() }, stop: () => clearInterval(timer) };
}

/** /readyz details: which broker nodes answer (details only: the instance stays ready). */
function brokerNodesDetails(status: BrokerNodesStatus | undefined, config: Config) {
  if (config.rabbitmqManagementUrls.length === 0) return undefined;
  return {
    queueType: config.brokerQueueType,
    nodes: (status?.endpoints ?? []).map((e) => ({
      endpoint: e.endpoint,
      reachable: e.reachable ?? null,
      since: e.since ? e.since.toISOString() : null,
      ...(e.error ? { error: e.error } : {}),
    })),
    unreachable: status?.endpoints.filter((e) => e.reachable === false).length ?? 0,
    membersDown: status?.membersDown ?? [],
    checkedAt: status ? status.checkedAt.toISOString() : null,
  };
}

async function databaseReachable(db: Database): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([db.sql`SELECT 1`, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), 2000)))]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
