// Revocation must reach live connections: the broker never re-checks an open connection, so
// for every revoked or expired key the reconciler deletes the key's vhost (which closes its
// connections at once), whichever way the key was revoked — API, script or plain SQL. The same
// passes close the connections a rotation left on secrets that are no longer valid.
// Several instances may run it: rows are claimed with FOR UPDATE SKIP LOCKED. A deletion that
// fails (management API down) stays due and is retried on every pass; until it succeeds the
// key's live connections stay open and, with the broker's auth cache on, its cached answers
// keep working: the backlog (how many, since when) is published in /metrics and /readyz.
import type { Sql } from '../store/db.js';
import { claimKeysToDeprovision, type DeprovisioningBacklog, deprovisioningBacklog, markKeyDeprovisioned } from '../store/reconcile.js';
import { claimDueCloseouts, finishCloseout, markCloseoutPass } from '../store/rotation.js';
import { pruneSecretUses, secretUsesSince } from '../store/secret-uses.js';
import type { BrokerAdmin } from './management.js';
import { CLOCK_TOLERANCE_MS, type CloseoutPassResult, closeOldConnections } from './rotation-closeout.js';

export interface ReconcilerOptions {
  sql: Sql;
  broker: Pick<BrokerAdmin, 'deprovisionVhost' | 'closeConnections' | 'listConnections' | 'closeConnection'>;
  /** How often expiry is looked for; revocations also `poke()` it via NOTIFY. Default 1000. */
  intervalMs?: number;
  batchSize?: number;
  onError?: (err: unknown, keyId: string) => void;
  onDeprovisioned?: (keyId: string, vhost: string) => void;
  /** A rotation close-out pass closed connections (src/broker/rotation-closeout.ts). */
  onRotationCloseout?: (keyId: string, vhost: string, result: CloseoutPassResult) => void;
  /**
   * The broker's auth cache TTL (BROKER_AUTH_CACHE_TTL_MS), 0 without it: a revoked legacy key
   * can reconnect from the cache that long, so its connections on "/" are closed that much longer.
   */
  authCacheTtlMs?: number;
}

export interface Reconciler {
  /** Run a pass soon (a key changed). */
  poke(): void;
  /** One pass; resolves with the number of keys deprovisioned. */
  runOnce(): Promise<number>;
  /** Keys still awaiting deprovisioning, as of the last pass (undefined before the first). */
  backlog(): DeprovisioningBacklog | undefined;
  stop(): Promise<void>;
}

export function startReconciler(o: ReconcilerOptions): Reconciler {
  const batchSize = o.batchSize ?? 50;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;
  let lastBacklog: DeprovisioningBacklog | undefined;

  async function pass(): Promise<number> {
    const done = await deprovisionDue();
    await closeOutRotations();
    lastBacklog = await deprovisioningBacklog(o.sql);
    return done;
  }

  let lastPrune = 0;

  /**
   * Rotated keys: connections opened with a secret that is no longer valid are closed, on every
   * pass from the close-out's due time until its end (src/broker/rotation-closeout.ts). A pass
   * that fails leaves the close-out due; the next pass retries it.
   */
  async function closeOutRotations(): Promise<void> {
    const ttl = o.authCacheTtlMs ?? 0;
    await o.sql.begin(async (tx) => {
      for (const due of await claimDueCloseouts(tx, batchSize)) {
        if (due.vhost === null) {
          await finishCloseout(tx, due.id);
          continue;
        }
        try {
          const since = new Date(due.generationCreatedAt.getTime() - ttl - 2 * CLOCK_TOLERANCE_MS);
          const uses = await secretUsesSince(tx, due.keyId, since);
          const final = due.now.getTime() >= due.untilAt.getTime();
          const rule = { keepFromGeneration: due.keepFromGeneration, generationCreatedAt: due.generationCreatedAt.getTime(), authCacheTtlMs: ttl };
          const result = await closeOldConnections(o.broker, due.vhost, uses, rule, Date.now(), final, due.seen);
          await markCloseoutPass(tx, due.id, result.closed, result.seen, due.untilAt);
          if (result.closed > 0) o.onRotationCloseout?.(due.keyId, due.vhost, result);
        } catch (err) {
          o.onError?.(err, due.keyId);
        }
      }
    });
    if (Date.now() - lastPrune > 60_000) {
      lastPrune = Date.now();
      await pruneSecretUses(o.sql);
    }
  }

  async function deprovisionDue(): Promise<number> {
    return o.sql.begin(async (tx) => {
      const due = await claimKeysToDeprovision(tx, batchSize);
      let done = 0;
      for (const key of due) {
        try {
          if (key.vhost !== null) {
            await o.broker.deprovisionVhost(key.vhost);
          } else {
            // Legacy key on the shared "/" vhost: close its org's connections there (other
            // legacy keys of the org reconnect, this one is refused at login); again on every
            // pass for 10 s + the broker's auth cache TTL (markKeyDeprovisioned).
            await o.broker.closeConnections({ vhost: '/', user: key.slug }, 'API key revoked or expired');
          }
          await markKeyDeprovisioned(tx, key, o.authCacheTtlMs ?? 0);
          if (key.vhost !== null) {
            o.onDeprovisioned?.(key.id, key.vhost);
            done++;
          }
        } catch (err) {
          o.onError?.(err, key.id); // left for the next pass
        }
      }
      return done;
    });
  }

  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = pass()
      .catch((err) => {
        o.onError?.(err, '');
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          void runOnce();
        }
      });
    return running;
  }

  const timer = setInterval(() => void runOnce(), o.intervalMs ?? 1000);
  timer.unref();

  return {
    poke: () => void runOnce(),
    runOnce,
    backlog: () => lastBacklog,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
