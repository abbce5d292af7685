/**
 * The four questions RabbitMQ asks (docs/architecture.md, "Identity" and "The decision table"),
 * as pure functions: no I/O, no clock of their own. Anything not explicitly allowed is denied. A
 * result is 'allow' or a deny reason.
 */
import { keyUsable, type UnusableReason } from '../keys/usable.js';
import { ipAllowed, isOneOf } from './cidr.js';
import { KEY_TAG_PREFIX, type KeyRecord } from './key.js';
import { requiredPublishScope } from './routing.js';

export type DenyReason =
  | UnusableReason
  | 'unknown_key'
  | 'malformed_key'
  | 'no_key_tag'
  | 'wrong_vhost'
  | 'ip_not_allowed'
  | 'not_permitted';
export type Decision = 'allow' | DenyReason;

/** Whether a key is usable now lives with the key (keys/usable.ts); re-exported for the hot path. */
export { keyUsable };

/** /auth/user: the key was found by the hash of the password. */
export function decideUser(key: KeyRecord | undefined, username: string, now: number): Decision {
  if (key === undefined) return 'unknown_key';
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

/** The key of the connection (looked up from its tag) must still be usable and own the vhost. */
function boundKeyInVhost(key: KeyRecord | undefined, username: string, vhost: string, now: number): Decision {
  if (key === undefined) return 'no_key_tag';
  const usable = keyUsable(key, username, now);
  if (usable !== 'allow') return usable;
  return key.vhost === vhost ? 'allow' : 'wrong_vhost';
}

/** /auth/vhost */
export function decideVhost(key: KeyRecord | undefined, username: string, vhost: string, ip: string, now: number): Decision {
  const bound = boundKeyInVhost(key, username, vhost, now);
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
): Decision {
  const bound = boundKeyInVhost(key, username, vhost, now);
  if (bound !== 'allow') return bound;
  if (resource === 'queue' && permission === 'read') {
    return name.startsWith(key!.eventQueuePrefix) ? 'allow' : 'not_permitted';
  }
  if (resource === 'exchange' && permission === 'write') {
    return name === 'vcp' && key!.canPublish ? 'allow' : 'not_permitted';
  }
  return 'not_permitted';
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
): Decision {
  const bound = boundKeyInVhost(key, username, vhost, now);
  if (bound !== 'allow') return bound;
  if (resource !== 'topic' || exchange !== 'vcp') return 'not_permitted';
  const slug = key!.orgSlug;
  if (routingKey.length <= slug.length + 1 || !routingKey.startsWith(slug) || routingKey.charCodeAt(slug.length) !== 46 /* . */) {
    return 'not_permitted';
  }
  const rest = routingKey.slice(slug.length + 1);
  if (permission === 'write') {
    const scope = requiredPublishScope(rest);
    return scope !== undefined && key!.scopes.has(scope) ? 'allow' : 'not_permitted';
  }
  if (permission === 'read') {
    return rest.startsWith('event.') ? 'allow' : 'not_permitted';
  }
  return 'not_permitted';
}
