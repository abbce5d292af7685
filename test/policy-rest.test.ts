// The REST rules (src/policy/rest.ts) as tables: pure logic, no I/O.
import { describe, expect, it } from 'vitest';
import { type KeyFields, type KeyRecord, previousSecretRecord, toKeyRecord } from '../src/policy/key.js';
import { clientAddress, decideRest, parseScopeList, parseTrustedProxies, type RestRequest } from '../src/policy/rest.js';

const NOW = Date.parse('2026-12-02T06:00:00Z');
const PLANT = '0b7c0000-0000-4000-8000-00000000000a';

function key(over: Partial<KeyFields> = {}): KeyRecord {
  return toKeyRecord({
    id: '3f8a0000-0000-4000-8000-000000000001',
    organizationId: 'org-1',
    orgSlug: 'acme',
    partnerId: 'p-1',
    vhost: null,
    isActive: true,
    expiresAt: null,
    scopes: ['vcp:read', 'telemetry:read'],
    allowedIps: [],
    allowedPlantIds: null,
    legacyScopeExpansion: false,
    connected: false,
    ...over,
  });
}
const req = (over: Partial<RestRequest> = {}): RestRequest => ({ clientIp: '10.0.0.1', requiredScopes: [], plantId: undefined, ...over });

describe('decideRest', () => {
  it.each([
    ['usable key, nothing required', key(), req(), 'allow'],
    ['unknown key', undefined, req(), 'unknown_key'],
    ['revoked', key({ isActive: false }), req(), 'inactive'],
    ['expired', key({ expiresAt: new Date(NOW) }), req(), 'expired'],
    ['revoked wins over everything else', key({ isActive: false, allowedIps: ['10.9.0.0/16'] }), req({ requiredScopes: ['config:write'] }), 'inactive'],
    ['inside the allowlist', key({ allowedIps: ['10.0.0.0/24'] }), req(), 'allow'],
    ['IPv4-mapped IPv6 client', key({ allowedIps: ['10.0.0.0/24'] }), req({ clientIp: '::ffff:10.0.0.7' }), 'allow'],
    ['outside the allowlist', key({ allowedIps: ['10.9.0.0/16'] }), req(), 'ip_not_allowed'],
    ['no address, allowlisted key', key({ allowedIps: ['10.0.0.0/24'] }), req({ clientIp: undefined }), 'ip_not_allowed'],
    ['no address, no allowlist', key(), req({ clientIp: undefined }), 'allow'],
    ['all required scopes held', key(), req({ requiredScopes: ['vcp:read', 'telemetry:read'] }), 'allow'],
    ['one required scope missing', key(), req({ requiredScopes: ['vcp:read', 'plants:read'] }), 'insufficient_scope'],
    ['an unknown scope can never be held', key(), req({ requiredScopes: ['admin'] }), 'insufficient_scope'],
    [
      'legacy expansion is for the broker only',
      key({ scopes: ['vcp:connect'], legacyScopeExpansion: true }),
      req({ requiredScopes: ['vcp:write:mode'] }),
      'insufficient_scope',
    ],
    ['address before scope', key({ allowedIps: ['10.9.0.0/16'] }), req({ requiredScopes: ['plants:read'] }), 'ip_not_allowed'],
    ['any plant of the organization', key(), req({ plantId: PLANT }), 'allow'],
    ['a listed plant, any case', key({ allowedPlantIds: [PLANT] }), req({ plantId: PLANT.toUpperCase() }), 'allow'],
    ['an unlisted plant', key({ allowedPlantIds: [PLANT] }), req({ plantId: '0b7c0000-0000-4000-8000-00000000000b' }), 'plant_not_allowed'],
    ['no plant may be addressed', key({ allowedPlantIds: [] }), req({ plantId: PLANT }), 'plant_not_allowed'],
    ['no plant in the request', key({ allowedPlantIds: [] }), req(), 'allow'],
  ] as const)('%s → %s', (_, k, r, expected) => {
    expect(decideRest(k, r, NOW)).toBe(expected);
  });

  it("a rotated key's previous secret is accepted until its overlap ends, then refused as expired", () => {
    const rotated = { ...key(), generation: 1, previousExpiresAt: NOW + 1000 } as KeyRecord;
    const previous = previousSecretRecord(rotated);
    expect(previous).toBeDefined();
    expect(decideRest(previous, req(), NOW)).toBe('allow');
    expect(decideRest(previous, req(), NOW + 1000)).toBe('expired');
    expect(decideRest(rotated, req(), NOW + 1000)).toBe('allow');
  });
});

describe('clientAddress', () => {
  const proxies = parseTrustedProxies(['10.1.0.0/16', '::1'])!;
  it.each([
    ['untrusted peer: the peer, forwarding ignored', '192.0.2.1', '198.51.100.7', '198.51.100.8', '192.0.2.1'],
    ['a neighbour of the trusted range', '10.2.0.5', '198.51.100.7', undefined, '10.2.0.5'],
    ['trusted peer: the forwarded client', '10.1.0.5', '198.51.100.7', undefined, '198.51.100.7'],
    ['trusted peer: right-most untrusted element', '10.1.0.5', '203.0.113.9, 198.51.100.7, 10.1.0.6', undefined, '198.51.100.7'],
    ['a forged left part is skipped', '10.1.0.5', '10.1.9.9, 198.51.100.7', undefined, '198.51.100.7'],
    ['every element trusted: the left-most', '10.1.0.5', '10.1.0.7, 10.1.0.6', undefined, '10.1.0.7'],
    ['X-Real-IP without X-Forwarded-For', '10.1.0.5', undefined, '198.51.100.9', '198.51.100.9'],
    ['X-Forwarded-For wins over X-Real-IP', '10.1.0.5', '198.51.100.7', '198.51.100.9', '198.51.100.7'],
    ['neither: the proxy itself', '10.1.0.5', undefined, undefined, '10.1.0.5'],
    ['with ports and brackets', '::1', '198.51.100.7:4431, [2001:db8::1]:443', undefined, '2001:db8::1'],
    ['IPv4 with a port', '::1', '198.51.100.7:4431', undefined, '198.51.100.7'],
    ['an element that is no address', '10.1.0.5', '198.51.100.7, unknown', undefined, undefined],
    ['a mapped trusted peer', '::ffff:10.1.0.5', '198.51.100.7', undefined, '198.51.100.7'],
  ] as const)('%s', (_, peer, xff, realIp, expected) => {
    expect(clientAddress(peer, xff, realIp, proxies)).toBe(expected);
  });

  it('no TRUSTED_PROXIES: always the peer', () => {
    expect(clientAddress('10.1.0.5', '198.51.100.7', '198.51.100.9', [])).toBe('10.1.0.5');
  });

  it('TRUSTED_PROXIES entries must be addresses or CIDRs', () => {
    expect(parseTrustedProxies(['10.0.0.0/8', '127.0.0.1', 'fd00::/8'])).toHaveLength(3);
    expect(parseTrustedProxies(['10.1'])).toBeUndefined();
    expect(parseTrustedProxies(['proxy.internal'])).toBeUndefined();
  });
});

it('parseScopeList: comma-separated, blanks dropped', () => {
  expect(parseScopeList(' vcp:read , ,telemetry:read,')).toEqual(['vcp:read', 'telemetry:read']);
  expect(parseScopeList(undefined)).toEqual([]);
  expect(parseScopeList('')).toEqual([]);
});
