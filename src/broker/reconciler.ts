// Revocation must reach live connections: the broker never re-checks an open connection, so
// for every revoked or expired key the reconciler deletes the key's vhost (which closes its
// connections at once), whichever way the key was revoked — API, script or plain SQL.
// Several instances may run it: rows are claimed with FOR UPDATE SKIP LOCKED.
import type { Sql } from '../store/db.js';
import type { BrokerAdmin } from './management.js';

export interface ReconcilerOptions {
  sql: Sql;
  broker: Pick<BrokerAdmin, 'deprovisionVhost' | 'closeConnections'>;
  /** How often expiry is looked for; revocations also `poke()` it via NOTIFY. Default 1000. */
  intervalMs?: number;
  batchSize?: number;
  onError?: (err: unknown, keyId: string) => void;
  onDeprovisioned?: (keyId: string, vhost: string) => void;
}

export interface Reconciler {
  /** Run a pass soon (a key changed). */
  poke(): void;
  /** One pass; resolves with the number of keys deprovisioned. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

interface Pending {
  id: string;
  vhost: string | null;
  slug: string;
}

export function startReconciler(o: ReconcilerOptions): Reconciler {
  const batchSize = o.batchSize ?? 50;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;

  async function pass(): Promise<number> {
    return o.sql.begin(async (tx) => {
      const due = await tx<Pending[]>`
        SELECT k.id, k.vhost, o.slug
        FROM api_keys k JOIN organizations o ON o.id = k.organization_id
        WHERE (k.deprovisioned_at IS NULL OR (k.vhost IS NULL AND k.deprovisioned_at > now()))
          AND (NOT k.is_active OR (k.expires_at IS NOT NULL AND k.expires_at <= now()))
        ORDER BY k.id
        LIMIT ${batchSize}
        FOR UPDATE OF k SKIP LOCKED`;
      let done = 0;
      for (const key of due) {
        try {
          if (key.vhost !== null) {
            await o.broker.deprovisionVhost(key.vhost);
          } else {
            // Legacy key on the shared "/" vhost: close its org's connections there (other
            // legacy keys of the org reconnect, this one is refused at login). The management
            // API lists a connection only after its first stats tick (~5 s), so keep closing
            // on every pass for 10 s: deprovisioned_at is set 10 s ahead for these keys.
            await o.broker.closeConnections({ vhost: '/', user: key.slug }, 'API key revoked or expired');
          }
          await tx`
            UPDATE api_keys
            SET deprovisioned_at = coalesce(deprovisioned_at, now() + ${key.vhost === null ? '10 seconds' : '0 seconds'}::interval)
            WHERE id = ${key.id}`;
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
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
