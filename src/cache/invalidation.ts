import postgres from 'postgres';
import type { KeyTable } from './key-table.js';

export const CHANGES_CHANNEL = 'voke_auth_changes';

export interface ChangeListener {
  /** True while the LISTEN connection is up and the table was reloaded on it (readiness). */
  listening(): boolean;
  /** How many times the table was loaded whole (start, then every LISTEN reconnect). */
  reloads(): number;
  stop(): Promise<void>;
}

/**
 * Keeps the key table honest: the trigger of migrations/001 sends `<table>:<op>:<id>` on every
 * key or organization change, whoever made it. The LISTEN runs on a connection of its own. Each
 * time it is (re)established the whole table is read again and swapped in (LISTEN first, so a
 * change committed during the read is notified and re-read after the swap). When it drops, the
 * table is marked stale and keeps answering; a reconnect is tried at once, then every `retryMs`.
 * Resolves once the first load is done (the auth listener starts after that); rejects if it fails.
 */
export async function listenForChanges(
  databaseUrl: string,
  table: KeyTable,
  options: { retryMs?: number; onError?: (err: unknown) => void; onChange?: (payload: string) => void; onReload?: () => void } = {},
): Promise<ChangeListener> {
  let up = false;
  let stopped = false;
  let reloads = 0;
  let connecting: Promise<void> | undefined;
  // `onnotify` is a documented-in-source but untyped option of postgres.js (its own listen() uses it).
  const listenOptions: postgres.Options<{}> & { onnotify: (channel: string, payload: string) => void } = {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 5,
    fetch_types: false,
    onnotice: () => {},
    onnotify: (channel, payload) => {
      if (channel !== CHANGES_CHANNEL) return;
      table.applyChange(payload);
      options.onChange?.(payload);
    },
    onclose: () => {
      if (stopped) return;
      up = false;
      table.markStale();
      setImmediate(() => void establish().catch(() => {}));
    },
    connection: { application_name: 'voke-auth-listen' },
  };
  const sql = postgres(databaseUrl, listenOptions);

  const establish = (): Promise<void> => {
    connecting ??= (async () => {
      try {
        await sql.unsafe(`LISTEN ${CHANGES_CHANNEL}`);
        await table.reload();
        reloads++;
        up = true;
        options.onReload?.();
      } catch (err) {
        table.markStale();
        table.setDatabaseDown(true);
        options.onError?.(err);
        throw err;
      } finally {
        connecting = undefined;
      }
    })();
    return connecting;
  };

  const timer = setInterval(() => {
    if (!up && !stopped) void establish().catch(() => {});
  }, options.retryMs ?? 500);
  timer.unref();

  const listener: ChangeListener = {
    listening: () => up,
    reloads: () => reloads,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await sql.end({ timeout: 2 });
    },
  };
  try {
    await establish();
  } catch (err) {
    await listener.stop();
    throw err;
  }
  return listener;
}
