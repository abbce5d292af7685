import { findKeyBySecret, MALFORMED_KEY } from '../../cache/find-key.js';
import { type KeyTable, LOOKUP_FAILED, type Lookup } from '../../cache/key-table.js';
import type { KeyHasher } from '../../keys/hash.js';
import type { Metrics } from '../../metrics.js';
import { normaliseAddress } from '../../policy/cidr.js';
import { type Decision, type DenyReason, decideResource, decideTopic, decideUser, decideVhost, keyIdFromTags } from '../../policy/decide.js';
import { DENY_WITH_REASON } from '../../policy/deny-texts.js';
import { generationFromTags, validGeneration } from '../../policy/generation.js';
import { KEY_TAG_PREFIX, type KeyRecord } from '../../policy/key.js';
import type { SecretUseRecorder } from '../../store/secret-uses.js';
import type { UsageRecorder } from '../../store/usage.js';
import type { AuthBackend } from './backend.js';
import type { Fields } from './form.js';

export const ALLOW = 'allow';
export const DENY = 'deny';

/** Whether an answer body refuses: `deny`, or `deny <reason>` (policy/deny-texts.ts). */
export function isDenial(body: string): boolean {
  return body === DENY || body.startsWith('deny ');
}

export interface AnswerDeps {
  table: KeyTable;
  hasher: KeyHasher;
  usage: UsageRecorder;
  metrics: Metrics;
  now: () => number;
  /** Where vhost checks of rotated keys go (which secret, which address), for the close-out. */
  secretUses?: Pick<SecretUseRecorder, 'record'>;
  /**
   * How long after a rotated key's overlap ends its vhost checks are still recorded: the close-out
   * (src/broker/rotation-closeout.ts) reads them until then. Default 60 s.
   */
  secretUseTailMs?: number;
  /**
   * Whether vhost/resource/topic refusals carry their reason (`deny <text>`): read on every
   * refusal, flipped by broker/deny-reasons.ts when it learns the broker's version. Absent: never.
   */
  denyReasons?: { readonly enabled: boolean };
}

const NO_REASONS = { enabled: false } as const;

const TAGGED_ID_LENGTH = KEY_TAG_PREFIX.length + 36;

/**
 * The key id a `vcp-key-<uuid>` tag names when it comes first (what our login answers: alone, or
 * followed by a generation tag and no other key tag), without checking the uuid's shape: the hot
 * path looks it up in the table first, and only ids from the table (all well-formed) are found
 * there. Whatever is not found goes through keyIdFromTags, which checks everything, before the
 * database is asked.
 */
function singleTagId(tags: string | null): string | undefined {
  if (tags === null || tags.length < TAGGED_ID_LENGTH || !tags.startsWith(KEY_TAG_PREFIX)) return undefined;
  if (tags.length === TAGGED_ID_LENGTH) return tags.slice(KEY_TAG_PREFIX.length);
  return tags.charCodeAt(TAGGED_ID_LENGTH) === 32 && !tags.includes(KEY_TAG_PREFIX, TAGGED_ID_LENGTH)
    ? tags.slice(KEY_TAG_PREFIX.length, TAGGED_ID_LENGTH)
    : undefined;
}

/** The generation residue of the tags (policy/generation.ts); the common single key tag costs nothing. */
function tagGeneration(tags: string | null): number | null {
  return tags !== null && tags.length === TAGGED_ID_LENGTH ? 0 : generationFromTags(tags);
}

/**
 * The AuthBackend of the service: the broker's form fields into the answer body, from the key
 * table (the common case, synchronous) or the database (a promise).
 */
export function createAnswers(deps: AnswerDeps): AuthBackend {
  const { table, usage, metrics, now, secretUses } = deps;
  const secretUseTailMs = deps.secretUseTailMs ?? 60_000;
  const reasons = deps.denyReasons ?? NO_REASONS;

  /** A vhost/resource/topic refusal: plain `deny`, or the precomputed `deny <text>` the broker understands. */
  function denied(reason: DenyReason): string {
    return reasons.enabled ? DENY_WITH_REASON[reason] : DENY;
  }

  function resolved(lookup: Lookup): KeyRecord | undefined {
    return lookup === LOOKUP_FAILED ? undefined : lookup;
  }

  /** A miss answered now or later: a promise only if the database is asked. */
  function settled(lookup: Lookup | Promise<Lookup>): KeyRecord | undefined | Promise<KeyRecord | undefined> {
    return lookup instanceof Promise ? lookup.then(resolved) : resolved(lookup);
  }

  /**
   * Applies `decide` to the key the call's tags name: from the table (synchronously, the common
   * case), else from the database (bounded), then `decide` runs once it is loaded. The key is
   * undefined for no such key, or none that could be read; `keyId` is undefined when the tags
   * named none. No closure on the cached path.
   */
  function withBoundKey(
    f: Fields,
    decide: (f: Fields, key: KeyRecord | undefined, keyId: string | undefined, generation: number | null) => string,
  ): string | Promise<string> {
    const tags = f.get('tags');
    const quick = singleTagId(tags);
    if (quick !== undefined) {
      const key = table.byId(quick);
      if (key !== undefined) {
        metrics.cacheHit.inc();
        return decide(f, key, quick, tagGeneration(tags));
      }
    }
    const keyId = keyIdFromTags(tags);
    if (keyId === undefined) return decide(f, undefined, undefined, null);
    metrics.cacheMiss.inc();
    const generation = tagGeneration(tags);
    const found = settled(table.idMiss(keyId));
    return found instanceof Promise ? found.then((k) => decide(f, k, keyId, generation)) : decide(f, found, keyId, generation);
  }

  function vhostAnswer(f: Fields, key: KeyRecord | undefined, keyId: string | undefined, generation: number | null): string {
    const username = f.get('username') ?? '';
    const at = now();
    const ip = f.get('ip') ?? '';
    const decision = decideVhost(key, username, f.get('vhost') ?? '', ip, at, generation);
    if (decision !== 'allow') {
      usage.refused(username, key ? key.id : (keyId ?? null), decision);
      return denied(decision);
    }
    const k = key!;
    // A rotated key, until its old connections are closed: which secret opened this one, from where.
    if (k.previousExpiresAt !== null && secretUses !== undefined && at < k.previousExpiresAt + secretUseTailMs) {
      secretUses.record(k.id, validGeneration(k, generation!, at)!, normaliseAddress(ip) ?? ip, at);
    }
    usage.keyUsed(k.id, at);
    // The connection got through: the key's first one becomes partner.connected (not at login,
    // which a blocked address also passes).
    usage.loggedIn(key!.id, key!.connected, at);
    return ALLOW;
  }

  function resourceAnswer(f: Fields, key: KeyRecord | undefined, _keyId: string | undefined, generation: number | null): string {
    const decision = decideResource(
      key,
      f.get('username') ?? '',
      f.get('vhost') ?? '',
      f.get('resource') ?? '',
      f.get('name') ?? '',
      f.get('permission') ?? '',
      now(),
      generation,
    );
    return decision === 'allow' ? ALLOW : denied(decision);
  }

  function topicAnswer(f: Fields, key: KeyRecord | undefined, _keyId: string | undefined, generation: number | null): string {
    const decision = decideTopic(
      key,
      f.get('username') ?? '',
      f.get('vhost') ?? '',
      f.get('resource') ?? '',
      f.get('name') ?? '',
      f.get('permission') ?? '',
      f.get('routing_key') ?? '',
      now(),
      generation,
    );
    return decision === 'allow' ? ALLOW : denied(decision);
  }

  function userAnswer(username: string, key: KeyRecord | undefined): string {
    const at = now();
    const decision = decideUser(key, username, at);
    if (decision !== 'allow') {
      usage.refused(username, key?.id ?? null, decision);
      return DENY; // never a reason: it would tell whether the key exists
    }
    usage.keyUsed(key!.id, at);
    return key!.userAnswer;
  }

  return {
    user(f: Fields): string | Promise<string> {
      const username = f.get('username') ?? '';
      const found = findKeyBySecret(deps, f.get('password') ?? '');
      if (found === MALFORMED_KEY) {
        usage.refused(username, null, 'malformed_key' satisfies Decision);
        return DENY;
      }
      return found instanceof Promise ? found.then((k) => userAnswer(username, k)) : userAnswer(username, found);
    },

    vhost(f: Fields): string | Promise<string> {
      return withBoundKey(f, vhostAnswer);
    },

    resource(f: Fields): string | Promise<string> {
      return withBoundKey(f, resourceAnswer);
    },

    topic(f: Fields): string | Promise<string> {
      return withBoundKey(f, topicAnswer);
    },
  };
}
