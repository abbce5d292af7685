// Which secret of a rotated key passed the broker's vhost check, from which address, when
// (migrations/008, api_key_secret_uses): written in batches off the hot path by every instance,
// read by the rotation close-out (src/broker/rotation-closeout.ts). Kept only while a rotated key's
// old connections may still need closing.

import type { Sql } from './db.js';
import type { Queryable } from './queryable.js';

export interface SecretUse {
  generation: number;
  /** The client address as the vhost check gave it, normalised (policy/cidr.ts normaliseAddress). */
  ip: string;
  /** Epoch ms of the check (the answering instance's clock). */
  at: number;
}

export interface SecretUseOptions {
  /** Default 500 ms: a use must be in the database before the broker lists its connection (~5 s). */
  flushIntervalMs?: number;
  onError?: (err: unknown) => void;
}

/** Checks held between flushes; at the bound the batch is written at once (never dropped). */
const MAX_PENDING = 20_000;

interface Entry {
  keyId: string;
  use: SecretUse;
}

/**
 * Gathers the vhost checks of rotated keys in memory, one entry per check (the close-out pairs
 * each connection with one check), and writes them every flushIntervalMs. A failed write is kept
 * for the next.
 */
export class SecretUseRecorder {
  private entries: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly options: SecretUseOptions = {},
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 500);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  record(keyId: string, generation: number, ip: string, at: number): void {
    this.entries.push({ keyId, use: { generation, ip, at } });
    if (this.entries.length >= MAX_PENDING) void this.flush();
  }

  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const batch = this.entries;
    if (batch.length === 0) return;
    this.entries = [];
    try {
      await insertSecretUses(this.sql, batch);
    } catch (err) {
      this.options.onError?.(err);
      this.entries = batch.concat(this.entries);
    }
  }
}

/** One statement per batch; uses of keys deleted meanwhile are dropped (they would fail the whole batch). */
export async function insertSecretUses(sql: Queryable, entries: readonly Entry[]): Promise<void> {
  await sql`
    INSERT INTO api_key_secret_uses (api_key_id, generation, ip, checked_at)
    SELECT v.id, v.generation, v.ip, v.checked_at
    FROM unnest(${entries.map((e) => e.keyId)}::uuid[], ${entries.map((e) => e.use.generation)}::int[],
                ${entries.map((e) => e.use.ip)}::text[],
                ${entries.map((e) => new Date(e.use.at).toISOString())}::timestamptz[])
      AS v(id, generation, ip, checked_at)
    WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.id = v.id)`;
}

/** A key's uses checked at or after `since`. */
export async function secretUsesSince(sql: Queryable, keyId: string, since: Date): Promise<SecretUse[]> {
  const rows = await sql<{ generation: number; ip: string; checkedAt: Date }[]>`
    SELECT generation, ip, checked_at FROM api_key_secret_uses
    WHERE api_key_id = ${keyId} AND checked_at >= ${since}`;
  return rows.map((r) => ({ generation: r.generation, ip: r.ip, at: r.checkedAt.getTime() }));
}

/** Uses no close-out can need any more: of keys with no close-out pending, older than 10 minutes. */
export async function pruneSecretUses(sql: Queryable): Promise<number> {
  const rows = await sql`
    DELETE FROM api_key_secret_uses u
    WHERE u.checked_at < now() - interval '10 minutes'
      AND NOT EXISTS (SELECT 1 FROM api_key_closeouts c WHERE c.api_key_id = u.api_key_id AND c.done_at IS NULL)`;
  return rows.count;
}
