import postgres from 'postgres';
import type { KeyCache } from './key-cache.js';

export const CHANGES_CHANNEL = 'voke_auth_changes';

export interface ChangeListener {
  /** True while the LISTEN connection is up (readiness). */
  listening(): boolean;
  stop(): Promise<void>;
}

/**
 * Keeps the cache honest: the trigger of migrations/001 sends `<table>:<op>:<id>` on every key
 * or organization change, whoever made it. The LISTEN runs on a connection of its own; when it
 * drops, it is re-established within `retryMs`, and the cache is cleared because changes may
 * have been missed in between. Until then cached keys keep answering (database down ≠ deny all).
 */
export function listenForChanges(
  databaseUrl: string,
  cache: KeyCache,
  options: { retryMs?: number; onError?: (err: unknown) => void; onChange?: (payload: string) => void } = {},
): Promise<ChangeListener> {
  let up = false;
  let stopped = false;
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
      applyChange(cache, payload);
      options.onChange?.(payload);
    },
    onclose: () => {
      up = false;
    },
    connection: { application_name: 'voke-auth-listen' },
  };
  const sql = postgres(databaseUrl, listenOptions);

  const establish = (): Promise<void> => {
    connecting ??= (async () => {
      try {
        await sql.unsafe(`LISTEN ${CHANGES_CHANNEL}`);
        cache.clear();
        up = true;
      } catch (err) {
        options.onError?.(err);
      } finally {
        connecting = undefined;
      }
    })();
    return connecting;
  };

  const timer = setInterval(() => {
    if (!up && !stopped) void establish();
  }, options.retryMs ?? 500);
  timer.unref();

  return establish().then(() => ({
    listening: () => up,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await sql.end({ timeout: 2 });
    },
  }));
}

export function applyChange(cache: KeyCache, payload: string): void {
  const [table, , id] = payload.split(':');
  if (!id) {
    cache.clear();
  } else if (table === 'api_keys') {
    cache.evictKey(id);
  } else if (table === 'organizations') {
    cache.evictOrganization(id);
  } else {
    cache.clear();
  }
}
