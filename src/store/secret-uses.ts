// Which secret of a rotated key passed the broker's vhost check, from which address, when
// (migrations/008, api_key_secret_uses): written in batches off the hot path by every instance,
// read by the rotation close-out (src/broker/rotation-closeout.ts). Kept only while a rotated key's
// old connections may still need closing.
import type { Queryable } from './queryable.js';
import type { Sql } from './db.js';

export interface SecretUse {
  generation: number;
  /** The client address as the vhost check gave it, normalised (policy/cidr.ts normaliseAddress). */
  ip: string;
  /** Epoch ms of the first and last such check in one batch. */
  firstAt: number;
  lastAt: number;
}

export interface SecretUseOptions {
  /** Default 500 ms: a use must be in the database before the broker lists its connection (~5 s). */
  flushIntervalMs?: number;
  onError?: (err: unknown) => void;
}

/** Distinct (key, generation, address) entries held between flushes; more are folded into the oldest bounds. */
const MAX_ENTRIES = 20_000;

interface Entry {
  keyId: string;
  use: SecretUse;
}

/**
 * Gathers vhost checks in memory, one entry per (key, generation, address) and batch with its
 * first and last time, and writes them every flushIntervalMs. A failed write is kept for the next.
 */
export class SecretUseRecorder {
  private entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly sql: Sql, private readonly options: SecretUseOptions = {}) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 500);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  record(keyId: string, generation: number, ip: string, at: number): void {
    const name = `${keyId}|${generation}|${ip}`;
    const entry = this.entries.get(name);
    if (entry !== undefined) {
      if (at < entry.use.firstAt) entry.use.firstAt = at;
      if (at > entry.use.lastAt) entry.use.lastAt = at;
      return;
    }
    // Never dropped (a lost use could keep an old-secret connection open): past the bound, the
    // batch is written now and a new one starts.
    if (this.entries.size >= MAX_ENTRIES) void this.flush();
    this.entries.set(name, { keyId, use: { generation, ip, firstAt: at, lastAt: at } });
  }

  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const batch = this.entries;
    if (batch.size === 0) return;
    this.entries = new Map();
    try {
      await insertSecretUses(this.sql, [...batch.values()]);
    } catch (err) {
      this.options.onError?.(err);
      for (const [name, e] of batch) {
        const now = this.entries.get(name);
        if (now === undefined) this.entries.set(name, e);
        else {
          now.use.firstAt = Math.min(now.use.firstAt, e.use.firstAt);
          now.use.lastAt = Math.max(now.use.lastAt, e.use.lastAt);
        }
      }
    }
  }
}

/** One statement per batch; uses of keys deleted meanwhile are dropped (they would fail the whole batch). */
export async function insertSecretUses(sql: Queryable, entries: readonly Entry[]): Promise<void> {
  await sql`
    INSERT INTO api_key_secret_uses (api_key_id, generation, ip, first_at, last_at)
    SELECT v.id, v.generation, v.ip, v.first_at, v.last_at
    FROM unnest(${entries.map((e) => e.keyId)}::uuid[], ${entries.map((e) => e.use.generation)}::int[],
                ${entries.map((e) => e.use.ip)}::text[],
                ${entries.map((e) => new Date(e.use.firstAt).toISOString())}::timestamptz[],
                ${entries.map((e) => new Date(e.use.lastAt).toISOString())}::timestamptz[])
      AS v(id, generation, ip, first_at, last_at)
    WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.id = v.id)`;
}

/** A key's uses whose last time is at or after `since`. */
export async function secretUsesSince(sql: Queryable, keyId: string, since: Date): Promise<SecretUse[]> {
  const rows = await sql<{ generation: number; ip: string; first_at: Date; last_at: Date }[]>`
    SELECT generation, ip, first_at, last_at FROM api_key_secret_uses
    WHERE api_key_id = ${keyId} AND last_at >= ${since}`;
  return rows.map((r) => ({ generation: r.generation, ip: r.ip, firstAt: r.first_at.getTime(), lastAt: r.last_at.getTime() }));
}

/** Uses no close-out can need any more: of keys with no close-out pending, older than 10 minutes. */
export async function pruneSecretUses(sql: Queryable): Promise<number> {
  const rows = await sql`
    DELETE FROM api_key_secret_uses u
    WHERE u.last_at < now() - interval '10 minutes'
      AND NOT EXISTS (SELECT 1 FROM api_key_closeouts c WHERE c.api_key_id = u.api_key_id AND c.done_at IS NULL)`;
  return rows.count;
}
