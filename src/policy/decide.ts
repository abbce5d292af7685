/**
 * The four questions RabbitMQ asks (docs/architecture.md, "Identity" and "The decision table"),
 * as pure functions: no I/O, no clock of their own. Anything not explicitly allowed is denied. A
 * result is 'allow' or a deny reason.
 */
import { keyUsable, type UnusableReason } from '../keys/usable.js';
import { ipAllowed, isOneOf } from './cidr.js';
import { validGeneration } from './generation.js';
import { KEY_TAG_PREFIX, type KeyRecord } from './key.js';
import { type MissingScopeReason, publishRule } from './routing.js';

/**
 * Why a call is refused. Each reason names one rule of the table; policy/deny-texts.ts holds the
 * text a partner may see for it (brokers from 4.3 on) or none (login refusals).
 */
export type DenyReason =
  | UnusableReason
  | 'unknown_key'
  | 'malformed_key'
  | 'no_key_tag'
  | 'wrong_vhost'
  | 'ip_not_allowed'
  | AccessDenyReason
  /** A connection opened with a key's previous secret, or that secret's login, after the rotation's overlap. */
  | 'previous_secret_expired';

/** Resource and topic refusals, one per rule (a rule the table does not name: not_permitted). */
export type AccessDenyReason =
  /** configure on anything: partners declare, delete and purge nothing. */
  | 'declare_refused'
  /** read on a queue other than the key's own vcp.<slug>.event.* */
  | 'queue_not_readable'
  /** write on a queue (the destination of queue.bind). */
  | 'queue_write_refused'
  /** read on an exchange (the source of queue.bind). */
  | 'exchange_read_refused'
  /** write to an exchange other than vcp (amq.default included). */
  | 'exchange_not_vcp'
  /** write to vcp without any vcp:write:* scope. */
  | 'no_write_scope'
  /** topic on an exchange other than vcp. */
  | 'topic_not_vcp'
  /** routing or binding key not under the key's own `<slug>.` */
  | 'routing_key_other_org'
  /** publish with a routing key no scope allows (events, command.emergency, ...). */
  | 'routing_key_unknown'
  | MissingScopeReason
  /** bind (topic read) with a key other than `<slug>.event.*`. */
  | 'binding_not_event'
  | 'not_permitted';
export type Decision = 'allow' | DenyReason;

/** Whether a key is usable now lives with the key (keys/usable.ts); re-exported for the hot path. */
export { keyUsable };

/** /auth/user: the key was found by the hash of the password. */
export function decideUser(key: KeyRecord | undefined, username: string, now: number): Decision {
  if (key === undefined) return 'unknown_key';
  // A key's previous secret after its overlap (rotation): refused like an expired key.
  if (key.secretExpiresAt !== null && key.secretExpiresAt <= now) return 'previous_secret_expired';
  return keyUsable(key, username, now);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SINGLE_KEY_TAG = new RegExp(`^${KEY_TAG_PREFIX}${UUID.source.slice(1)}`);

/**
 * The key id bound to the connection at login, from the broker's `tags` field. Exactly one
 * `vcp-key-<uuid>` tag must be present; anything else yields undefined (deny).
 */
export function keyIdFromTags(tags: string | null): string | undefined {
  if (!tags) return undefined;
  // What the broker sends for our users: the one tag our login answered (no split, no copies but the id).
  if (SINGLE_KEY_TAG.test(tags)) return tags.slice(KEY_TAG_PREFIX.length);
  let found: string | undefined;
  for (const tag of tags.split(' ')) {
    if (!tag.startsWith(KEY_TAG_PREFIX)) continue;
    const id = tag.slice(KEY_TAG_PREFIX.length);
    if (found !== undefined || !UUID.test(id)) return undefined;
    found = id;
  }
  return found;
}

/**
 * The key of the connection (looked up from its tag) must still be usable and own the vhost, and
 * the secret that opened the connection (`generation`, the residue its generation tag names; 0
 * without one, null when malformed) must still be valid (policy/generation.ts).
 */
function boundKeyInVhost(key: KeyRecord | undefined, username: string, vhost: string, now: number, generation: number | null): Decision {
  if (key === undefined || generation === null) return 'no_key_tag';
  const usable = keyUsable(key, username, now);
  if (usable !== 'allow') return usable;
  if (key.vhost !== vhost) return 'wrong_vhost';
  return validGeneration(key, generation, now) === undefined ? 'previous_secret_expired' : 'allow';
}

/** /auth/vhost */
export function decideVhost(key: KeyRecord | undefined, username: string, vhost: string, ip: string, now: number, generation: number | null = 0): Decision {
  const bound = boundKeyInVhost(key, username, vhost, now, generation);
  if (bound !== 'allow') return bound;
  if (ipAllowed(key!.allowlist, ip)) return 'allow';
  // The probe window (migrations/006): while the service probes the broker with this key (mint
  // self-test, test-connection), a login from the probing host's own addresses is admitted too.
  // Only those plain addresses, only this key, only until probeUntil (at most 10 s).
  const k = key!;
  if (k.probeUntil !== null && now < k.probeUntil && isOneOf(k.probeIps, ip)) return 'allow';
  return 'ip_not_allowed';
}

/** /auth/resource */
export function decideResource(
  key: KeyRecord | undefined,
  username: string,
  vhost: string,
  resource: string,
  name: string,
  permission: string,
  now: number,
  generation: number | null = 0,
): Decision {
  const bound = boundKeyInVhost(key, username, vhost, now, generation);
  if (bound !== 'allow') return bound;
  if (resource !== 'queue' && resource !== 'exchange') return 'not_permitted';
  if (permission === 'configure') return 'declare_refused';
  if (resource === 'queue') {
    if (permission === 'read') return name.startsWith(key!.eventQueuePrefix) ? 'allow' : 'queue_not_readable';
    return permission === 'write' ? 'queue_write_refused' : 'not_permitted';
  }
  if (permission === 'write') {
    if (name !== 'vcp') return 'exchange_not_vcp';
    return key!.canPublish ? 'allow' : 'no_write_scope';
  }
  return permission === 'read' ? 'exchange_read_refused' : 'not_permitted';
}

/** /auth/topic */
export function decideTopic(
  key: KeyRecord | undefined,
  username: string,
  vhost: string,
  resource: string,
  exchange: string,
  permission: string,
  routingKey: string,
  now: number,
  generation: number | null = 0,
): Decision {
  const bound = boundKeyInVhost(key, username, vhost, now, generation);
  if (bound !== 'allow') return bound;
  if (resource !== 'topic') return 'not_permitted';
  if (exchange !== 'vcp') return 'topic_not_vcp';
  if (permission !== 'write' && permission !== 'read') return 'not_permitted';
  const slug = key!.orgSlug;
  if (routingKey.length <= slug.length + 1 || !routingKey.startsWith(slug) || routingKey.charCodeAt(slug.length) !== 46 /* . */) {
    return 'routing_key_other_org';
  }
  const rest = routingKey.slice(slug.length + 1);
  if (permission === 'write') {
    const rule = publishRule(rest);
    if (rule === undefined) return 'routing_key_unknown';
    return key!.scopes.has(rule.scope) ? 'allow' : rule.missing;
  }
  return rest.startsWith('event.') ? 'allow' : 'binding_not_event';
}
