import { LRUCache } from 'lru-cache';
import { toKeyRecord, type KeyRecord } from '../policy/key.js';
import type { AuthKeyRow } from '../store/auth-keys.js';

/** Where the cache fills from: the database in production, the same functions in tests. */
export interface KeySource {
  byHashes(hashes: readonly string[]): Promise<AuthKeyRow | undefined>;
  byId(id: string): Promise<AuthKeyRow | undefined>;
  rewriteHash(id: string, from: string, to: string): Promise<void>;
}

/** The source could not answer (database down): deny, and cache nothing. */
export const LOOKUP_FAILED = Symbol('lookup failed');
export type Lookup = KeyRecord | undefined | typeof LOOKUP_FAILED;
/** A cached "no such key": answer deny without asking the database. */
export const KNOWN_MISSING = Symbol('known missing');

export interface KeyCacheOptions {
  maxKeys?: number;
  /** Safety net only; NOTIFY is what keeps entries honest. */
  ttlMs?: number;
  missingTtlMs?: number;
  onLookup?: (kind: 'hash' | 'id', ok: boolean) => void;
  onRewriteError?: (err: unknown) => void;
}

/**
 * Keys by id, and current-pepper hash → id; plus short-lived "not found" entries so that
 * repeated unknown keys do not reach the database. The plaintext key is never a cache key.
 *
 * Every eviction bumps `generation`; a fill that started before an eviction is not stored
 * (it may have read the row before the change) and is read again instead.
 */
export class KeyCache {
  private readonly byId: LRUCache<string, KeyRecord>;
  private readonly idByHash: LRUCache<string, string>;
  private readonly missingHashes: LRUCache<string, true>;
  private readonly missingIds: LRUCache<string, true>;
  private readonly inflight = new Map<string, Promise<Lookup>>();
  private generation = 0;

  constructor(private readonly source: KeySource, private readonly options: KeyCacheOptions = {}) {
    const max = options.maxKeys ?? 50_000;
    const ttl = options.ttlMs ?? 10 * 60_000;
    const missingTtl = options.missingTtlMs ?? 10_000;
    this.byId = new LRUCache({ max, ttl });
    this.idByHash = new LRUCache({ max, ttl });
    this.missingHashes = new LRUCache({ max, ttl: missingTtl });
    this.missingIds = new LRUCache({ max: Math.min(max, 10_000), ttl: missingTtl });
  }

  /** Synchronous hit for a login; undefined means "ask `loadByPassword`". */
  peekByHash(hash: string): KeyRecord | typeof KNOWN_MISSING | undefined {
    const id = this.idByHash.get(hash);
    if (id !== undefined) {
      const key = this.byId.get(id);
      if (key !== undefined) return key;
    }
    return this.missingHashes.has(hash) ? KNOWN_MISSING : undefined;
  }

  /** Synchronous hit for a tagged call; undefined means "ask `loadById`". */
  peekById(id: string): KeyRecord | typeof KNOWN_MISSING | undefined {
    const key = this.byId.get(id);
    if (key !== undefined) return key;
    return this.missingIds.has(id) ? KNOWN_MISSING : undefined;
  }

  /** Miss path for a login. `candidates` are every hash the key could be stored under, current first. */
  loadByPassword(currentHash: string, candidates: () => string[]): Promise<Lookup> {
    return this.singleFlight(`h:${currentHash}`, async () => {
      for (let attempt = 0; ; attempt++) {
        const generation = this.generation;
        let row: AuthKeyRow | undefined;
        try {
          row = await this.source.byHashes(candidates());
          this.options.onLookup?.('hash', true);
        } catch {
          this.options.onLookup?.('hash', false);
          return LOOKUP_FAILED;
        }
        if (row !== undefined && row.keyHash !== currentHash) {
          this.source.rewriteHash(row.id, row.keyHash, currentHash).catch((e) => this.options.onRewriteError?.(e));
        }
        const key = row && toKeyRecord(row);
        if (generation === this.generation) {
          if (key === undefined) this.missingHashes.set(currentHash, true);
          else this.store(key, currentHash);
          return key;
        }
        if (attempt >= 2) return key; // still racing changes: answer, but cache nothing
      }
    });
  }

  /** Miss path for a call that carries a `vcp-key-<id>` tag. */
  loadById(id: string): Promise<Lookup> {
    return this.singleFlight(`i:${id}`, async () => {
      for (let attempt = 0; ; attempt++) {
        const generation = this.generation;
        let row: AuthKeyRow | undefined;
        try {
          row = await this.source.byId(id);
          this.options.onLookup?.('id', true);
        } catch {
          this.options.onLookup?.('id', false);
          return LOOKUP_FAILED;
        }
        const key = row && toKeyRecord(row);
        if (generation === this.generation) {
          if (key === undefined) this.missingIds.set(id, true);
          else this.byId.set(id, key);
          return key;
        }
        if (attempt >= 2) return key;
      }
    });
  }

  /** A key row changed (or was inserted or deleted). */
  evictKey(id: string): void {
    this.generation++;
    this.byId.delete(id);
    this.missingIds.delete(id);
    // A new or re-hashed key may be one we remember as missing.
    this.missingHashes.clear();
  }

  /** An organization changed (its slug, say): every key of it is re-read. */
  evictOrganization(organizationId: string): void {
    this.generation++;
    for (const [id, key] of this.byId.entries()) {
      if (key.organizationId === organizationId) this.byId.delete(id);
    }
  }

  /** LISTEN (re)connected: changes may have been missed, so forget everything. */
  clear(): void {
    this.generation++;
    this.byId.clear();
    this.idByHash.clear();
    this.missingHashes.clear();
    this.missingIds.clear();
  }

  get size(): number {
    return this.byId.size;
  }

  private store(key: KeyRecord, hash: string): void {
    this.byId.set(key.id, key);
    this.idByHash.set(hash, key.id);
  }

  private singleFlight(flightKey: string, load: () => Promise<Lookup>): Promise<Lookup> {
    const running = this.inflight.get(flightKey);
    if (running) return running;
    const promise = load().finally(() => this.inflight.delete(flightKey));
    this.inflight.set(flightKey, promise);
    return promise;
  }
}
