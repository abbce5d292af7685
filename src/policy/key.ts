import { type Cidr, normaliseAddress, parseCidr } from './cidr.js';
import { generationTagSuffix } from './generation.js';
import { effectiveScopes, hasConnectScope, hasWriteScope } from './scopes.js';

/** A key as the decisions need it, derived once when the cache is filled. */
export interface KeyRecord {
  id: string;
  organizationId: string;
  orgSlug: string;
  /** The external partner identifier given at mint (REST identity headers, verify API). */
  partnerId: string;
  /** `partner-<id>`, or `/` for a legacy key (stored vhost null). */
  vhost: string;
  isActive: boolean;
  /** Epoch milliseconds, or null for no expiry. */
  expiresAt: number | null;
  canConnect: boolean;
  canPublish: boolean;
  /** Effective scopes (legacy expansion applied): what the broker decisions use. */
  scopes: ReadonlySet<string>;
  /** The scopes as stored, without legacy expansion: what REST requests are checked against. */
  storedScopes: readonly string[];
  /** Plants the key may address over REST; null: every plant of its organization. */
  allowedPlantIds: readonly string[] | null;
  allowlist: readonly (Cidr | undefined)[];
  /** Queues the key may consume from start with this: `vcp.<slug>.event.` */
  eventQueuePrefix: string;
  /**
   * The exact `/auth/user` body for this key's secret, built once: `allow vcp-key-<id>`, plus
   * `vcp-gen-<n>` once the key was rotated (policy/generation.ts).
   */
  userAnswer: string;
  /** 0 for the minted secret, +1 per rotation. */
  generation: number;
  /** Epoch ms when the previous secret stops being valid; null: no previous secret. */
  previousExpiresAt: number | null;
  /**
   * null on a key's record. Set on the record its previous secret finds (previousSecretRecord):
   * the epoch ms from which that secret is refused, whatever the key's own expiry.
   */
  secretExpiresAt: number | null;
  /** Whether the key has ever logged in (for the one-time partner.connected event). */
  connected: boolean;
  /**
   * The probe window (migrations/006): until this epoch ms, a login from one of `probeIps` (the
   * addresses of the host running the service's own probe) passes the vhost check even outside
   * the allowlist. null: no window.
   */
  probeUntil: number | null;
  /** Plain addresses (IPv4 dotted, IPv6 RFC 5952), never ranges. */
  probeIps: readonly string[];
}

export interface KeyFields {
  id: string;
  organizationId: string;
  orgSlug: string;
  /** Absent where a record is built for the broker only (mint self-test, test-connection). */
  partnerId?: string;
  vhost: string | null;
  isActive: boolean;
  expiresAt: Date | null;
  scopes: readonly string[];
  allowedIps: readonly string[];
  /** null or absent: every plant of the organization. */
  allowedPlantIds?: readonly string[] | null;
  legacyScopeExpansion: boolean;
  connected: boolean;
  /** Set while the service probes the broker with this key (see migrations/006). */
  probeUntil?: Date | null;
  probeIps?: readonly string[];
  /** Rotation (migrations/008): the current secret's generation and the previous secret's end. */
  generation?: number;
  previousKeyExpiresAt?: Date | null;
}

export const KEY_TAG_PREFIX = 'vcp-key-';

export function toKeyRecord(f: KeyFields): KeyRecord {
  const scopes = effectiveScopes(f.scopes, f.legacyScopeExpansion);
  return {
    id: f.id,
    organizationId: f.organizationId,
    orgSlug: f.orgSlug,
    partnerId: f.partnerId ?? '',
    vhost: f.vhost ?? '/',
    isActive: f.isActive,
    expiresAt: f.expiresAt === null ? null : f.expiresAt.getTime(),
    canConnect: hasConnectScope(scopes),
    canPublish: hasWriteScope(scopes),
    scopes,
    storedScopes: [...f.scopes],
    allowedPlantIds: f.allowedPlantIds == null ? null : f.allowedPlantIds.map((id) => id.toLowerCase()),
    allowlist: f.allowedIps.map(parseCidr),
    eventQueuePrefix: `vcp.${f.orgSlug}.event.`,
    userAnswer: `allow ${KEY_TAG_PREFIX}${f.id}${generationTagSuffix(f.generation ?? 0)}`,
    generation: f.generation ?? 0,
    previousExpiresAt: f.previousKeyExpiresAt ? f.previousKeyExpiresAt.getTime() : null,
    secretExpiresAt: null,
    connected: f.connected,
    probeUntil: f.probeUntil ? f.probeUntil.getTime() : null,
    probeIps: (f.probeIps ?? []).map(normaliseAddress).filter((a): a is string => a !== undefined),
  };
}

/**
 * What a login with the key's previous secret finds: the key, answering the previous generation's
 * tag, refused from the end of the overlap on (decideUser). undefined when the key has none.
 */
export function previousSecretRecord(key: KeyRecord): KeyRecord | undefined {
  if (key.generation === 0 || key.previousExpiresAt === null) return undefined;
  return {
    ...key,
    userAnswer: `allow ${KEY_TAG_PREFIX}${key.id}${generationTagSuffix(key.generation - 1)}`,
    secretExpiresAt: key.previousExpiresAt,
  };
}
