import { parseCidr } from '../policy/cidr.js';
import { type KeyRecord, previousSecretRecord, toKeyRecord } from '../policy/key.js';
import type { AuthKeyRow } from '../store/auth-keys.js';
import { TokenBucket } from './token-bucket.js';

/** Where the table fills from: the database in production. */
export interface KeyTableSource {
  /** Every active, unexpired key, handed over in batches. */
  loadAll(onRows: (rows: AuthKeyRow[]) => void): Promise<void>;
  byHashes(hashes: readonly string[]): Promise<AuthKeyRow | undefined>;
  byId(id: string): Promise<AuthKeyRow | undefined>;
  byOrganization(organizationId: string): Promise<AuthKeyRow[]>;
  rewriteHash(id: string, from: string, to: string): Promise<void>;
}

/** The source could not answer (database down, or the miss budget spent): deny, and remember nothing. */
export const LOOKUP_FAILED = Symbol('lookup failed');
/** ok/error: the database answered or failed; throttled: not asked; late: denied at the answer deadline, the read went on. */
export type LookupOutcome = 'ok' | 'error' | 'throttled' | 'late';
export type Lookup = KeyRecord | undefined | typeof LOOKUP_FAILED;

export interface KeyTableOptions {
  /** Database lookups for keys not in the table, per second (burst the same). */
  missLookupsPerSecond?: number;
  /** A miss lookup while the table is stale gives up after this long (the database may be gone). */
  staleLookupTimeoutMs?: number;
  /** The same while LISTEN is up (the database answers; a slow answer is still an answer). */
  lookupTimeoutMs?: number;
  /**
   * How long a call waits for a miss read before it is denied (default 80 ms). The read goes on
   * (up to the timeouts above) and what it finds is kept for the next call: a database that
   * vanished without LISTEN noticing (no RST) costs a miss this long, not lookupTimeoutMs.
   */
  answerDeadlineMs?: number;
  now?: () => number;
  /** Monotonic milliseconds for the miss budget (tests hold it still). */
  monotonicNow?: () => number;
  onLookup?: (kind: 'hash' | 'id', outcome: LookupOutcome) => void;
  onRewriteError?: (err: unknown) => void;
  onError?: (err: unknown) => void;
}

/** A "not in the table" answer the database gave: a revoked/expired key (kept for its deny reason) or nothing. */
type Negative = KeyRecord | null;
const MAX_NEGATIVES = 10_000;

/**
 * Every active, unexpired key in memory, by id and by stored hash (current pepper, an older
 * pepper or legacy plain SHA-256). A rotated key is there under both its hashes while its
 * previous secret is valid: the previous one maps to previousSecretRecord, which refuses the
 * login from the overlap's end on (policy/decide.ts), NOTIFY or not; the first lookup after
 * that end moves the entry to the not-found entries. Kept current by the change stream (`applyChange`), replaced
 * whole by `reload` when LISTEN (re)connects. The plaintext key is never a map key.
 *
 * A change to a key removes it at once (never a stale allow) and re-reads it; a call for it
 * meanwhile waits for that read (at most answerDeadlineMs, like a miss). Keys not in the table go to the database at most
 * `missLookupsPerSecond` times a second; every read that started before a change (`generation`)
 * is not stored.
 */
export class KeyTable {
  private byIdMap = new Map<string, KeyRecord>();
  private byHashMap = new Map<string, KeyRecord>();
  private hashById = new Map<string, string>();
  /** A rotated key's previous hash, while its previous secret is in the table. */
  private previousHashById = new Map<string, string>();
  /** Keys being re-read after a change: by id and by the hash they were stored under. */
  private readonly pendingIds = new Map<string, Promise<void>>();
  private readonly pendingHashes = new Map<string, Promise<void>>();
  private readonly negativeHashes = new Map<string, Negative>();
  private readonly negativeIds = new Map<string, Negative>();
  private readonly inflight = new Map<string, Promise<Lookup>>();
  private readonly rewriting = new Set<string>();
  private readonly bucket: TokenBucket;
  private readonly now: () => number;
  /** Bumped by every change and swap: a database read that started before it is not stored. */
  private generation = 0;
  /** Set while a reload runs: what changed meanwhile is re-read after the swap. */
  private changedDuringLoad: { keys: Set<string>; orgs: Set<string> } | undefined;
  private staleSinceMs: number | null = null;
  private databaseDown = false;
  private loadedOnce = false;
  private readonly interned = new Map<string, unknown>();

  constructor(
    private readonly source: KeyTableSource,
    private readonly options: KeyTableOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.bucket = new TokenBucket(options.missLookupsPerSecond ?? 50, options.monotonicNow);
  }

  // ---- the hot path: synchronous hits ----

  /** The key stored under the current-pepper hash, or undefined (then `loginMiss`). */
  byHash(hash: string): KeyRecord | undefined {
    const key = this.byHashMap.get(hash);
    // A previous secret past its overlap: answered once more from here (refused), then from the
    // not-found entries.
    if (key !== undefined && key.secretExpiresAt !== null && key.secretExpiresAt <= this.now()) this.retirePrevious(key, hash);
    return key;
  }

  /** The key with this id, or undefined (then `idMiss`). */
  byId(id: string): KeyRecord | undefined {
    return this.byIdMap.get(id);
  }

  /**
   * A login whose current hash is not in the table: older peppers and legacy SHA-256 in memory
   * (a hit there is rewritten to the current hash in the database), then a key being re-read,
   * then what the database said before, then (bounded) the database.
   */
  loginMiss(currentHash: string, candidates: () => string[]): Lookup | Promise<Lookup> {
    const hashes = candidates();
    for (let i = 1; i < hashes.length; i++) {
      const key = this.byHashMap.get(hashes[i]!);
      if (key !== undefined) {
        this.rewrite(key.id, hashes[i]!, currentHash);
        return key;
      }
    }
    for (const h of hashes) {
      const pending = this.pendingHashes.get(h);
      if (pending !== undefined)
        return this.withinAnswerDeadline(
          'hash',
          pending.then(() => this.loginAfterWait(currentHash, hashes)),
        );
    }
    const negative = this.negativeHashes.get(currentHash);
    if (negative !== undefined) return negative ?? undefined;
    return this.singleFlight(
      `h:${currentHash}`,
      'hash',
      () => this.source.byHashes(hashes),
      (row, key) => {
        if (row === undefined || key === undefined) return this.remember(this.negativeHashes, currentHash, null);
        const stored = matchedPrevious(row, hashes) ? row.previousKeyHash! : row.keyHash;
        if (stored !== currentHash) this.rewrite(row.id, stored, currentHash);
        if (!this.belongsInTable(key)) this.remember(this.negativeHashes, currentHash, key);
      },
      (row, key) => {
        if (!matchedPrevious(row, hashes)) return key;
        // The previous secret: its own record, or (none left: the key's generation moved on) no key.
        const previous = previousSecretRecord(key);
        if (previous === undefined || (previous.secretExpiresAt !== null && previous.secretExpiresAt <= this.now())) {
          this.remember(this.negativeHashes, currentHash, previous ?? null);
        }
        return previous;
      },
    );
  }

  /** A tagged call whose key id is not in the table. */
  idMiss(id: string): Lookup | Promise<Lookup> {
    const pending = this.pendingIds.get(id);
    if (pending !== undefined)
      return this.withinAnswerDeadline(
        'id',
        pending.then(() => this.byIdMap.get(id) ?? this.idMissNoWait(id)),
      );
    return this.idMissNoWait(id);
  }

  private idMissNoWait(id: string): Lookup | Promise<Lookup> {
    const negative = this.negativeIds.get(id);
    if (negative !== undefined) return negative ?? undefined;
    return this.singleFlight(
      `i:${id}`,
      'id',
      () => this.source.byId(id),
      (row) => {
        if (row === undefined) this.remember(this.negativeIds, id, null);
      },
    );
  }

  private loginAfterWait(currentHash: string, hashes: string[]): Lookup | Promise<Lookup> {
    for (const h of hashes) {
      const key = this.byHashMap.get(h);
      if (key !== undefined) {
        if (h !== currentHash) this.rewrite(key.id, h, currentHash);
        return key;
      }
    }
    return this.loginMiss(currentHash, () => hashes);
  }

  /** One database read per hash/id at a time, within the miss budget and a deadline. */
  private singleFlight(
    flightKey: string,
    kind: 'hash' | 'id',
    read: () => Promise<AuthKeyRow | undefined>,
    after: (row: AuthKeyRow | undefined, key: KeyRecord | undefined) => void,
    pick?: (row: AuthKeyRow, key: KeyRecord) => KeyRecord | undefined,
  ): Lookup | Promise<Lookup> {
    const running = this.inflight.get(flightKey);
    if (running) return this.withinAnswerDeadline(kind, running);
    // The database is known to be down: answer now, not after a timeout.
    if (this.databaseDown || !this.bucket.take()) {
      this.options.onLookup?.(kind, 'throttled');
      return LOOKUP_FAILED;
    }
    const promise = this.readFresh(kind, read, after, pick).finally(() => this.inflight.delete(flightKey));
    this.inflight.set(flightKey, promise);
    return this.withinAnswerDeadline(kind, promise);
  }

  /** The caller's view of a read: LOOKUP_FAILED once answerDeadlineMs passes (the read itself goes on). */
  private withinAnswerDeadline(kind: 'hash' | 'id', read: Promise<Lookup>): Promise<Lookup> {
    return withDeadline(read, this.options.answerDeadlineMs ?? 80).catch(() => {
      this.options.onLookup?.(kind, 'late');
      return LOOKUP_FAILED;
    });
  }

  private async readFresh(
    kind: 'hash' | 'id',
    read: () => Promise<AuthKeyRow | undefined>,
    after: (row: AuthKeyRow | undefined, key: KeyRecord | undefined) => void,
    pick?: (row: AuthKeyRow, key: KeyRecord) => KeyRecord | undefined,
  ): Promise<Lookup> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const generation = this.generation;
      let row: AuthKeyRow | undefined;
      try {
        row = await withDeadline(read(), this.staleSinceMs === null ? (this.options.lookupTimeoutMs ?? 2000) : (this.options.staleLookupTimeoutMs ?? 80));
        this.options.onLookup?.(kind, 'ok');
      } catch {
        this.options.onLookup?.(kind, 'error');
        return LOOKUP_FAILED;
      }
      // A change arrived while we read: the row may predate it. Read again.
      if (generation !== this.generation) continue;
      const key = row && this.record(row);
      after(row, key);
      if (row === undefined || key === undefined) return undefined;
      if (this.belongsInTable(key)) this.put(key, row);
      else this.remember(this.negativeIds, key.id, key);
      return pick ? pick(row, key) : key;
    }
    return LOOKUP_FAILED; // still racing changes: deny rather than risk an answer from before one
  }

  // ---- keeping it current ----

  /** A `<table>:<op>:<id>` notification from the trigger of migrations/001. */
  applyChange(payload: string): void {
    const [table, , id] = payload.split(':');
    if (table === 'api_keys' && id) this.keyChanged(id);
    else if (table === 'organizations' && id) this.organizationChanged(id);
    else void this.reload().catch((err) => this.options.onError?.(err));
  }

  /**
   * A key changed (its NOTIFY, or this instance's own committed change): dropped at once, then
   * re-read; calls for it wait for that read (at most answerDeadlineMs).
   */
  keyChanged(id: string): void {
    this.generation++;
    this.changedDuringLoad?.keys.add(id);
    const oldHash = this.hashById.get(id);
    const oldPreviousHash = this.previousHashById.get(id);
    this.remove(id);
    this.negativeIds.delete(id);
    this.negativeHashes.clear(); // a new or re-hashed key may be one we remember as missing
    const swaps = this.swaps;
    let done!: Promise<void>;
    done = this.source
      .byId(id)
      .then(
        (row) => {
          // Only the latest re-read of this id stores, and only if no swap came in between.
          if (this.pendingIds.get(id) !== done || this.changedDuringLoad !== undefined || this.swaps !== swaps) return;
          if (row !== undefined) {
            const key = this.record(row);
            if (this.belongsInTable(key)) this.put(key, row);
            else this.remember(this.negativeIds, id, key);
          }
        },
        (err) => this.options.onError?.(err), // stays out of the table: misses go to the database
      )
      .finally(() => {
        if (this.pendingIds.get(id) === done) this.pendingIds.delete(id);
        if (oldHash !== undefined && this.pendingHashes.get(oldHash) === done) this.pendingHashes.delete(oldHash);
        if (oldPreviousHash !== undefined && this.pendingHashes.get(oldPreviousHash) === done) this.pendingHashes.delete(oldPreviousHash);
      });
    this.pendingIds.set(id, done);
    if (oldHash !== undefined) this.pendingHashes.set(oldHash, done);
    if (oldPreviousHash !== undefined) this.pendingHashes.set(oldPreviousHash, done);
  }

  /** Whole-table swaps so far: a re-read that started before one is not stored. */
  private swaps = 0;

  private organizationChanged(organizationId: string): void {
    this.generation++;
    this.changedDuringLoad?.orgs.add(organizationId);
    for (const [id, key] of this.byIdMap) if (key.organizationId === organizationId) this.remove(id);
    this.negativeIds.clear();
    this.negativeHashes.clear();
    const generation = this.generation;
    this.source.byOrganization(organizationId).then(
      (rows) => {
        if (generation !== this.generation) return; // something else changed: those keys come back through misses
        for (const row of rows) {
          const key = this.record(row);
          if (this.belongsInTable(key)) this.put(key, row);
        }
      },
      (err) => this.options.onError?.(err),
    );
  }

  /**
   * Reads the whole table and swaps it in at once. Call after LISTEN is up: a change that
   * commits during the read is notified, and re-read after the swap.
   */
  async reload(): Promise<void> {
    const changed = { keys: new Set<string>(), orgs: new Set<string>() };
    this.changedDuringLoad = changed;
    const byId = new Map<string, KeyRecord>();
    const byHash = new Map<string, KeyRecord>();
    const hashById = new Map<string, string>();
    const previousHashById = new Map<string, string>();
    try {
      await this.source.loadAll((rows) => {
        for (const row of rows) {
          const key = this.record(row);
          byId.set(key.id, key);
          byHash.set(row.keyHash, key);
          hashById.set(key.id, row.keyHash);
          const previous = this.previousEntry(key, row);
          if (previous !== undefined) {
            byHash.set(row.previousKeyHash!, previous);
            previousHashById.set(key.id, row.previousKeyHash!);
          }
        }
      });
    } finally {
      if (this.changedDuringLoad === changed) this.changedDuringLoad = undefined;
    }
    this.generation++;
    this.swaps++;
    this.byIdMap = byId;
    this.byHashMap = byHash;
    this.hashById = hashById;
    this.previousHashById = previousHashById;
    this.negativeIds.clear();
    this.negativeHashes.clear();
    this.staleSinceMs = null;
    this.databaseDown = false;
    this.loadedOnce = true;
    for (const id of changed.keys) this.keyChanged(id);
    for (const org of changed.orgs) this.organizationChanged(org);
  }

  /** LISTEN dropped: changes may be missed from now on. Keys keep their answers (expiry still applies). */
  markStale(): void {
    this.staleSinceMs ??= this.now();
  }

  /** Whether a miss should skip the database (a reconnect attempt just failed). */
  setDatabaseDown(down: boolean): void {
    this.databaseDown = down;
  }

  get size(): number {
    return this.byIdMap.size;
  }

  get loaded(): boolean {
    return this.loadedOnce;
  }

  /** Epoch ms since when changes may have been missed, or null while the table is current. */
  get staleSince(): number | null {
    return this.staleSinceMs;
  }

  // ---- internals ----

  private belongsInTable(key: KeyRecord): boolean {
    return key.isActive && (key.expiresAt === null || key.expiresAt > this.now());
  }

  private put(key: KeyRecord, row: AuthKeyRow): void {
    this.remove(key.id);
    this.byIdMap.set(key.id, key);
    this.byHashMap.set(row.keyHash, key);
    this.hashById.set(key.id, row.keyHash);
    const previous = this.previousEntry(key, row);
    if (previous !== undefined) {
      this.byHashMap.set(row.previousKeyHash!, previous);
      this.previousHashById.set(key.id, row.previousKeyHash!);
    }
  }

  /** The record a key's previous hash maps to, while that secret is valid. */
  private previousEntry(key: KeyRecord, row: AuthKeyRow): KeyRecord | undefined {
    if (!row.previousKeyHash) return undefined;
    const previous = previousSecretRecord(key);
    return previous !== undefined && previous.secretExpiresAt! > this.now() ? previous : undefined;
  }

  /** The overlap ended: the previous hash leaves the table for the not-found entries (with its record, for the reason). */
  private retirePrevious(previous: KeyRecord, hash: string): void {
    if (this.previousHashById.get(previous.id) !== hash) return;
    this.byHashMap.delete(hash);
    this.previousHashById.delete(previous.id);
    this.remember(this.negativeHashes, hash, previous);
  }

  private remove(id: string): void {
    const hash = this.hashById.get(id);
    if (hash !== undefined) this.byHashMap.delete(hash);
    const previousHash = this.previousHashById.get(id);
    if (previousHash !== undefined) this.byHashMap.delete(previousHash);
    this.hashById.delete(id);
    this.previousHashById.delete(id);
    this.byIdMap.delete(id);
  }

  private remember(map: Map<string, Negative>, key: string, value: Negative): void {
    if (map.size >= MAX_NEGATIVES) map.delete(map.keys().next().value!);
    map.set(key, value);
  }

  private rewrite(id: string, from: string, to: string): void {
    if (this.rewriting.has(id)) return;
    this.rewriting.add(id);
    this.source
      .rewriteHash(id, from, to)
      .catch((err) => this.options.onRewriteError?.(err))
      .finally(() => this.rewriting.delete(id));
  }

  /**
   * A key record that shares its scope set, allowlist and organization strings with every key
   * that has the same ones (a million keys of a few organizations would otherwise hold a million
   * copies of each).
   */
  private record(row: AuthKeyRow): KeyRecord {
    // Allowlists are parsed once per distinct list, not once per key.
    const key = toKeyRecord(row.allowedIps.length === 0 ? row : { ...row, allowedIps: [] });
    key.organizationId = this.intern(`o:${key.organizationId}`, key.organizationId);
    key.orgSlug = this.intern(`g:${key.orgSlug}`, key.orgSlug);
    key.eventQueuePrefix = this.intern(`q:${key.eventQueuePrefix}`, key.eventQueuePrefix);
    key.scopes = this.intern(`s:${row.legacyScopeExpansion}:${row.scopes.join(' ')}`, key.scopes);
    key.storedScopes = this.intern(`r:${row.scopes.join(' ')}`, key.storedScopes);
    if (key.allowedPlantIds !== null) key.allowedPlantIds = this.intern(`l:${key.allowedPlantIds.join(' ')}`, key.allowedPlantIds);
    if (row.allowedIps.length === 0) key.allowlist = NO_ALLOWLIST;
    else {
      const name = `a:${row.allowedIps.join(' ')}`;
      key.allowlist = (this.interned.get(name) as KeyRecord['allowlist'] | undefined) ?? this.intern(name, Object.freeze(row.allowedIps.map(parseCidr)));
    }
    return key;
  }

  private intern<T>(name: string, value: T): T {
    const known = this.interned.get(name) as T | undefined;
    if (known !== undefined) return known;
    if (this.interned.size < 100_000) this.interned.set(name, value);
    return value;
  }
}

const NO_ALLOWLIST: KeyRecord['allowlist'] = Object.freeze([]);

/** Whether a database row was found by its previous secret's hash (not its current one). */
function matchedPrevious(row: AuthKeyRow, hashes: readonly string[]): boolean {
  return !!row.previousKeyHash && !hashes.includes(row.keyHash) && hashes.includes(row.previousKeyHash);
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database lookup timed out')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
