// Pure description of the broker topology a partner sees. Shared by provisioning
// (management.ts), the self-test probe (probe.ts), the test harness and the deploy-files
// test, which checks that definitions.json (legacy "/" vhost) agrees with it.

/** The topic exchange every partner vhost (and the legacy "/" vhost) carries. */
export const VCP_EXCHANGE = 'vcp';

/** Vhost of a key minted by voke-auth. */
export function partnerVhost(keyId: string): string {
  return `partner-${keyId}`;
}

export type QueueDirection = 'broker-to-partner' | 'partner-to-broker';
export type QueueKind = 'telemetry' | 'alarm' | 'status' | 'command' | 'schedule' | 'config';

export interface PartnerQueue {
  readonly kind: QueueKind;
  readonly name: string;
  readonly direction: QueueDirection;
  /** Binding keys on exchange `vcp`. */
  readonly bindingKeys: readonly string[];
}

/** The six queues of a partner, in a stable order (events first). */
export function partnerQueues(slug: string): readonly PartnerQueue[] {
  const out = 'broker-to-partner' as const;
  const inn = 'partner-to-broker' as const;
  return [
    { kind: 'telemetry', name: `vcp.${slug}.event.telemetry`, direction: out, bindingKeys: [`${slug}.event.telemetry.#`] },
    { kind: 'alarm', name: `vcp.${slug}.event.alarm`, direction: out, bindingKeys: [`${slug}.event.alarm.#`] },
    {
      kind: 'status',
      name: `vcp.${slug}.event.status`,
      direction: out,
      bindingKeys: [`${slug}.event.status.#`, `${slug}.event.command.ack`],
    },
    { kind: 'command', name: `vcp.${slug}.command`, direction: inn, bindingKeys: [`${slug}.command.#`] },
    { kind: 'schedule', name: `vcp.${slug}.schedule`, direction: inn, bindingKeys: [`${slug}.schedule.#`] },
    { kind: 'config', name: `vcp.${slug}.config`, direction: inn, bindingKeys: [`${slug}.config.#`] },
  ];
}

/**
 * Bounds on event queues while a partner is offline, applied as a policy (not queue
 * arguments: a policy can be changed later without re-declaring queues). Policies are per
 * vhost, so provisioning adds this policy to every partner vhost and definitions.json
 * carries the identical policy for "/" (test/deploy-files.test.ts checks they agree).
 * At most 100k messages / 64 MiB / 24 h per event queue; the oldest are dropped first.
 */
export const EVENT_QUEUE_POLICY = {
  name: 'vcp-event-limits',
  pattern: '^vcp\\.[^.]+\\.event\\.',
  applyTo: 'queues',
  priority: 0,
  definition: {
    'max-length': 100_000,
    'max-length-bytes': 64 * 1024 * 1024,
    overflow: 'drop-head',
    'message-ttl': 24 * 60 * 60 * 1000,
    // Keep an offline partner's backlog on disk, not in memory (no-op from 3.12 on).
    'queue-mode': 'lazy',
  },
} as const;

export type QueueType = 'classic' | 'quorum';

/**
 * The event-queue limits for a queue type. Quorum queues take max-length, max-length-bytes,
 * message-ttl (3.10 and later) and overflow drop-head or reject-publish, but no queue-mode (they
 * always keep messages on disk): the quorum policy is the classic one without it.
 */
export function eventQueuePolicy(type: QueueType) {
  if (type === 'classic') return EVENT_QUEUE_POLICY;
  const { 'queue-mode': _lazy, ...definition } = EVENT_QUEUE_POLICY.definition;
  return { ...EVENT_QUEUE_POLICY, definition };
}

export interface Permissions {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

/** Ops/admin user: everything (it declares the topology through the management API). */
export const ADMIN_PERMISSIONS: Permissions = { configure: '.*', write: '.*', read: '.*' };

const SLUG_PATTERN = '[a-z0-9][a-z0-9-]*';

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Internal service user: publishes events to `vcp`, consumes the partner-to-broker queues.
 * It declares nothing (topology comes from provisioning / definitions). With a slug, the
 * read pattern names that partner's queues (a per-key vhost); without, any slug (the
 * legacy "/" vhost, where per-org queues are created by ops).
 */
export function servicePermissions(slug?: string): Permissions {
  const s = slug === undefined ? SLUG_PATTERN : escapeRegex(slug);
  return {
    configure: '^$',
    write: `^${escapeRegex(VCP_EXCHANGE)}$`,
    read: `^vcp\\.${s}\\.(command|schedule|config)$`,
  };
}

/** Where the key goes in a URI shown without it (the key detail). */
export const KEY_PLACEHOLDER = '<API_KEY>';

export interface ConnectionValues {
  /** `amqps://<slug>:<key>@<host>:<port>/<vhost>`, slug, key and vhost URL-encoded. */
  uri: string;
  host: string;
  port: number;
  username: string;
  vhost: string;
  queues: Record<QueueKind, string>;
}

/**
 * What a partner needs to connect: public host and port, the org slug as username, the key's
 * vhost, its six queues. `password` is the key (the mint's answer) or KEY_PLACEHOLDER (the
 * detail view), which stays readable in the URI.
 */
export function connectionValues(p: { host: string; port: number; slug: string; vhost: string; password: string }): ConnectionValues {
  const hostInUri = p.host.includes(':') && !p.host.startsWith('[') ? `[${p.host}]` : p.host;
  const password = p.password === KEY_PLACEHOLDER ? KEY_PLACEHOLDER : encodeURIComponent(p.password);
  const queues = Object.fromEntries(partnerQueues(p.slug).map((q) => [q.kind, q.name])) as Record<QueueKind, string>;
  return {
    uri: `amqps://${encodeURIComponent(p.slug)}:${password}@${hostInUri}:${p.port}/${encodeURIComponent(p.vhost)}`,
    host: p.host,
    port: p.port,
    username: p.slug,
    vhost: p.vhost,
    queues,
  };
}
