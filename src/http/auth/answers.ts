import { decideResource, decideTopic, decideUser, decideVhost, keyIdFromTags, type Decision } from '../../policy/decide.js';
import type { KeyRecord } from '../../policy/key.js';
import { classifyKey } from '../../keys/format.js';
import type { KeyHasher } from '../../keys/hash.js';
import { KNOWN_MISSING, LOOKUP_FAILED, type KeyCache, type Lookup } from '../../cache/key-cache.js';
import type { UsageRecorder } from '../../store/usage.js';
import type { Metrics } from '../../metrics.js';

export const ALLOW = 'allow';
export const DENY = 'deny';

export interface AnswerDeps {
  cache: KeyCache;
  hasher: KeyHasher;
  usage: UsageRecorder;
  metrics: Metrics;
  now: () => number;
}

/** Reads one field; a missing field is the empty string (which no rule allows). */
export type Fields = { get(name: string): string | null };

/**
 * Turns the broker's form fields into the answer body. Returns synchronously on a cache hit
 * (the common case) and a promise only when the database must be asked.
 */
export function createAnswers(deps: AnswerDeps) {
  const { cache, hasher, usage, metrics, now } = deps;

  function resolved(lookup: Lookup): KeyRecord | undefined {
    return lookup === LOOKUP_FAILED ? undefined : lookup;
  }

  /**
   * The key a tagged call is bound to: from the cache (synchronously, the common case), else
   * from the database. Undefined: no such key, or none could be read.
   */
  function keyById(keyId: string | undefined): KeyRecord | undefined | Promise<KeyRecord | undefined> {
    if (keyId === undefined) return undefined;
    const cached = cache.peekById(keyId);
    if (cached === KNOWN_MISSING) {
      metrics.cacheNegative.inc();
      return undefined;
    }
    if (cached !== undefined) {
      metrics.cacheHit.inc();
      return cached;
    }
    metrics.cacheMiss.inc();
    return cache.loadById(keyId).then(resolved);
  }

  /** Applies `decide` to the bound key now, or once it is loaded. No closure on the cached path. */
  function withBoundKey(f: Fields, keyId: string | undefined, decide: (f: Fields, key: KeyRecord | undefined, keyId: string | undefined) => string): string | Promise<string> {
    const key = keyById(keyId);
    return key instanceof Promise ? key.then((k) => decide(f, k, keyId)) : decide(f, key, keyId);
  }

  function vhostAnswer(f: Fields, key: KeyRecord | undefined, keyId: string | undefined): string {
    const username = f.get('username') ?? '';
    const at = now();
    const decision = decideVhost(key, username, f.get('vhost') ?? '', f.get('ip') ?? '', at);
    if (decision !== 'allow') {
      usage.refused(username, key ? key.id : (keyId ?? null), decision);
      return DENY;
    }
    usage.keyUsed(key!.id, at);
    return ALLOW;
  }

  function resourceAnswer(f: Fields, key: KeyRecord | undefined): string {
    return decideResource(key, f.get('username') ?? '', f.get('vhost') ?? '', f.get('resource') ?? '', f.get('name') ?? '', f.get('permission') ?? '', now()) === 'allow'
      ? ALLOW
      : DENY;
  }

  function topicAnswer(f: Fields, key: KeyRecord | undefined): string {
    return decideTopic(
      key,
      f.get('username') ?? '',
      f.get('vhost') ?? '',
      f.get('resource') ?? '',
      f.get('name') ?? '',
      f.get('permission') ?? '',
      f.get('routing_key') ?? '',
      now(),
    ) === 'allow'
      ? ALLOW
      : DENY;
  }

  function userAnswer(username: string, key: KeyRecord | undefined): string {
    const at = now();
    const decision = decideUser(key, username, at);
    if (decision !== 'allow') {
      usage.refused(username, key?.id ?? null, decision);
      return DENY;
    }
    usage.keyUsed(key!.id, at);
    usage.loggedIn(key!.id, key!.connected, at);
    return key!.userAnswer;
  }

  return {
    user(f: Fields): string | Promise<string> {
      const username = f.get('username') ?? '';
      const password = f.get('password') ?? '';
      const shape = password === '' ? 'too-long' : classifyKey(password);
      if (shape === 'too-long' || shape === 'bad-checksum') {
        usage.refused(username, null, 'malformed_key' satisfies Decision);
        return DENY;
      }
      const hash = hasher.current(password);
      const cached = cache.peekByHash(hash);
      if (cached === KNOWN_MISSING) {
        metrics.cacheNegative.inc();
        return userAnswer(username, undefined);
      }
      if (cached !== undefined) {
        metrics.cacheHit.inc();
        return userAnswer(username, cached);
      }
      metrics.cacheMiss.inc();
      return cache.loadByPassword(hash, () => hasher.candidates(password, hash)).then((l) => userAnswer(username, resolved(l)));
    },

    vhost(f: Fields): string | Promise<string> {
      return withBoundKey(f, keyIdFromTags(f.get('tags')), vhostAnswer);
    },

    resource(f: Fields): string | Promise<string> {
      return withBoundKey(f, keyIdFromTags(f.get('tags')), resourceAnswer);
    },

    topic(f: Fields): string | Promise<string> {
      return withBoundKey(f, keyIdFromTags(f.get('tags')), topicAnswer);
    },
  };
}
export type Answers = ReturnType<typeof createAnswers>;
