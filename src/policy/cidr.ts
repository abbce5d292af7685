import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
export type Cidr = [Address, number];

/**
 * Parses one allowlist entry. A bare address means /32 or /128; an IPv4-mapped IPv6 range is
 * turned into its IPv4 range so it matches IPv4 clients. Returns undefined when unparseable.
 */
export function parseCidr(text: string): Cidr | undefined {
  try {
    const [addr, bits] = text.includes('/') ? ipaddr.parseCIDR(text) : bare(text);
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
    }
    return [addr, bits];
  } catch {
    return undefined;
  }
}

function bare(text: string): Cidr {
  if (!ipaddr.isValid(text)) throw new Error('invalid address');
  const addr = ipaddr.parse(text);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

/** A strict check for the admin API: only canonical-looking CIDRs or bare addresses. */
export function isValidCidr(text: string): boolean {
  if (text.includes('/')) return ipaddr.isValidCIDR(text) && parseCidr(text) !== undefined;
  return ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text);
}

/**
 * Addresses parsed before (null: not an address). The same few addresses come back on every call
 * (a broker's clients, a gateway's peers and X-Forwarded-For values), and ipaddr.js takes a few
 * µs per parse. Emptied when full, so memory stays bounded whatever addresses are sent.
 */
const parsedAddresses = new Map<string, Address | null>();
const MAX_PARSED_ADDRESSES = 4096;

/** Client address as the broker sends it (`127.0.0.1`, `::ffff:10.0.0.1`, `::1`); mapped → IPv4. */
export function parseClientIp(text: string): Address | undefined {
  const seen = parsedAddresses.get(text);
  if (seen !== undefined) return seen ?? undefined;
  let parsed: Address | null = null;
  if (ipaddr.isValid(text)) {
    try {
      parsed = ipaddr.process(text);
    } catch {
      parsed = null;
    }
  }
  if (parsedAddresses.size >= MAX_PARSED_ADDRESSES) parsedAddresses.clear();
  parsedAddresses.set(text, parsed);
  return parsed ?? undefined;
}

/**
 * Empty allowlist: no restriction. Otherwise the client must be inside one of the ranges;
 * an unparseable client address, or entries that failed to parse, match nothing (deny).
 */
export function ipAllowed(allowlist: readonly (Cidr | undefined)[], clientIp: string): boolean {
  if (allowlist.length === 0) return true;
  const client = parseClientIp(clientIp);
  if (client === undefined) return false;
  for (const range of allowlist) {
    if (range !== undefined && range[0].kind() === client.kind() && client.match(range)) return true;
  }
  return false;
}

/**
 * One plain address in the form `sameAddress` compares against: IPv4 dotted (a mapped IPv6
 * address becomes its IPv4), IPv6 RFC 5952 without a zone. undefined when not an address.
 */
export function normaliseAddress(text: string): string | undefined {
  const withoutZone = text.split('%')[0]!;
  const addr = parseClientIp(withoutZone);
  return addr?.toString();
}

const MAPPED = '::ffff:';

/**
 * Whether the client address the broker sent is one of `addresses` (normalised, see
 * normaliseAddress): string comparisons only, no allocation (the vhost check runs it while a
 * probe window is open). `::ffff:a.b.c.d` matches `a.b.c.d`.
 */
export function isOneOf(addresses: readonly string[], clientIp: string): boolean {
  const mapped = clientIp.length > MAPPED.length && clientIp.startsWith(MAPPED) && clientIp.indexOf('.') > 0;
  for (let i = 0; i < addresses.length; i++) {
    const a = addresses[i]!;
    if (clientIp === a) return true;
    if (mapped && clientIp.length === a.length + MAPPED.length && clientIp.endsWith(a)) return true;
  }
  return false;
}
