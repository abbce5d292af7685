/**
 * The REST questions (forward auth at /auth/rest and POST /api/v1/keys/verify), as pure
 * functions beside the broker's four (./decide.ts): the same key record from the same table, the
 * same live check (keys/usable.ts) and allowlist match (./cidr.ts). REST checks the scopes as
 * stored: no legacy scope expansion, which exists for broker publishes only.
 */
import { keyLive } from '../keys/usable.js';
import { type Cidr, ipAllowed, isValidCidr, parseCidr, parseClientIp } from './cidr.js';
import type { KeyRecord } from './key.js';

/** Why a REST request is refused. The first five are answered 401, the last three 403. */
export type RestRefusal = 'no_key' | 'malformed_key' | 'unknown_key' | 'inactive' | 'expired' | 'ip_not_allowed' | 'insufficient_scope' | 'plant_not_allowed';
export const REST_REFUSALS: readonly RestRefusal[] = [
  'no_key',
  'malformed_key',
  'unknown_key',
  'inactive',
  'expired',
  'ip_not_allowed',
  'insufficient_scope',
  'plant_not_allowed',
];

export interface RestRequest {
  /** The client's address as resolved by clientAddress (undefined: none could be read). */
  clientIp: string | undefined;
  /** Every one of these must be among the key's stored scopes. */
  requiredScopes: readonly string[];
  /** The plant the request addresses, if any. */
  plantId: string | undefined;
}

/**
 * The key (found by the hash of the presented secret, or undefined) against one request. The
 * order matters to what a caller may learn: nothing about the key beyond "not usable" until it
 * is live, and only then address, scope and plant.
 */
export function decideRest(key: KeyRecord | undefined, request: RestRequest, now: number): 'allow' | RestRefusal {
  if (key === undefined) return 'unknown_key';
  const live = keyLive(key, now);
  if (live !== 'allow') return live;
  // An empty allowlist admits every address; a non-empty one admits no unknown address.
  if (key.allowlist.length > 0 && (request.clientIp === undefined || !ipAllowed(key.allowlist, request.clientIp))) return 'ip_not_allowed';
  for (const scope of request.requiredScopes) if (!key.storedScopes.includes(scope)) return 'insufficient_scope';
  if (request.plantId !== undefined && key.allowedPlantIds !== null && !key.allowedPlantIds.includes(request.plantId.toLowerCase())) {
    return 'plant_not_allowed';
  }
  return 'allow';
}

const NO_SCOPES: readonly string[] = Object.freeze([]);
/** parseScopeList's last header and answer: a gateway sends the same value for every request of a route. */
let lastScopeHeader: string | undefined;
let lastScopeList = NO_SCOPES;

/** `X-Voke-Required-Scopes`: comma-separated, blanks dropped. */
export function parseScopeList(header: string | undefined): readonly string[] {
  if (header === undefined || header === '') return NO_SCOPES;
  if (header === lastScopeHeader) return lastScopeList;
  const out: string[] = [];
  for (const part of header.split(',')) {
    const scope = part.trim();
    if (scope !== '') out.push(scope);
  }
  lastScopeHeader = header;
  lastScopeList = Object.freeze(out);
  return lastScopeList;
}

/** TRUSTED_PROXIES, parsed once: the ranges whose forwarding headers are believed. */
export type TrustedProxies = readonly Cidr[];

/** Parses TRUSTED_PROXIES entries; undefined if one is not an address or CIDR. */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies | undefined {
  const out: Cidr[] = [];
  for (const entry of entries) {
    const cidr = isValidCidr(entry) ? parseCidr(entry) : undefined;
    if (cidr === undefined) return undefined;
    out.push(cidr);
  }
  return out;
}

function trusted(proxies: TrustedProxies, address: string): boolean {
  return proxies.length > 0 && ipAllowed(proxies, address);
}

/**
 * One X-Forwarded-For element as an address: plain IPv4/IPv6, or with a port (`1.2.3.4:80`,
 * `[::1]:80`) as some proxies write it. undefined when it is not an address.
 */
function forwardedAddress(element: string): string | undefined {
  let text = element.trim();
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end === -1) return undefined;
    text = text.slice(1, end);
  } else if (text.indexOf(':') !== -1 && text.indexOf(':') === text.lastIndexOf(':') && text.includes('.')) {
    text = text.slice(0, text.indexOf(':'));
  }
  return parseClientIp(text) === undefined ? undefined : text;
}

/**
 * The client's address. From a peer outside TRUSTED_PROXIES: the peer, whatever it sends (a
 * client cannot forge its address). From a trusted proxy: the right-most X-Forwarded-For element
 * that is not itself a trusted proxy (each proxy appends the address it saw, so elements further
 * left were written by whoever sent them); if every element is a trusted proxy, the left-most;
 * without X-Forwarded-For, X-Real-IP; without either, the peer. An element that is not an address
 * ends the walk with no address (undefined: an allowlisted key is then refused).
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  realIp: string | undefined,
  proxies: TrustedProxies,
): string | undefined {
  if (peer === undefined || !trusted(proxies, peer)) return peer;
  if (forwardedFor !== undefined && forwardedFor.trim() !== '') {
    const elements = forwardedFor.split(',');
    let address: string | undefined;
    for (let i = elements.length - 1; i >= 0; i--) {
      address = forwardedAddress(elements[i]!);
      if (address === undefined || !trusted(proxies, address)) return address;
    }
    return address;
  }
  if (realIp !== undefined && realIp.trim() !== '') return forwardedAddress(realIp);
  return peer;
}
