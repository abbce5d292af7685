// The decision table (docs/architecture.md, "The decision table") and the routing-key table, as tables (pure logic, no I/O).
import { describe, expect, it } from 'vitest';
import { normaliseAddress } from '../src/policy/cidr.js';
import { decideResource, decideTopic, decideUser, decideVhost, keyIdFromTags } from '../src/policy/decide.js';
import { type KeyFields, type KeyRecord, toKeyRecord } from '../src/policy/key.js';
import { ROUTING_KEY_SCOPES, requiredPublishScope } from '../src/policy/routing.js';
import { effectiveScopes, WRITE_SCOPES } from '../src/policy/scopes.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const ID = '3f8a0000-0000-4000-8000-000000000001';
const OTHER_ID = '3f8a0000-0000-4000-8000-000000000002';

function key(over: Partial<KeyFields> = {}): KeyRecord {
  return toKeyRecord({
    id: ID,
    organizationId: 'org-1',
    orgSlug: 'acme',
    vhost: `partner-${ID}`,
    isActive: true,
    expiresAt: null,
    scopes: ['vcp:connect'],
    allowedIps: [],
    legacyScopeExpansion: false,
    connected: false,
    ...over,
  });
}

describe('user', () => {
  it.each([
    ['valid key', key(), 'acme', 'allow'],
    ['unknown key', undefined, 'acme', 'unknown_key'],
    ['wrong slug', key(), 'other', 'wrong_organization'],
    ['key id as username', key(), ID, 'wrong_organization'],
    ['revoked', key({ isActive: false }), 'acme', 'inactive'],
    ['expired', key({ expiresAt: new Date(NOW - 1) }), 'acme', 'expired'],
    ['expires exactly now', key({ expiresAt: new Date(NOW) }), 'acme', 'expired'],
    ['expires later', key({ expiresAt: new Date(NOW + 1000) }), 'acme', 'allow'],
    ['no connect scope', key({ scopes: ['vcp:read', 'vcp:write:mode'] }), 'acme', 'missing_connect_scope'],
    ['legacy trading:connect', key({ scopes: ['trading:connect'] }), 'acme', 'allow'],
  ])('%s', (_, k, username, expected) => {
    expect(decideUser(k, username, NOW)).toBe(expected);
  });

  it('answers with the key tag, never an admin tag', () => {
    expect(key().userAnswer).toBe(`allow vcp-key-${ID}`);
    expect(key().userAnswer).not.toMatch(/administrator|management|policymaker|monitoring/);
  });
});

describe('tags', () => {
  it.each([
    [`vcp-key-${ID}`, ID],
    [`management vcp-key-${ID}`, ID],
    ['', undefined],
    [null, undefined],
    ['vcp-key-', undefined],
    ['vcp-key-not-a-uuid', undefined],
    [`vcp-key-${ID.toUpperCase()}`, undefined],
    [`vcp-key-${ID} vcp-key-${OTHER_ID}`, undefined],
    [`vcp-key-${ID}0`, undefined],
    [`xvcp-key-${ID}`, undefined],
    [ID, undefined],
    [`vcp-key-${ID} `, ID],
    [`vcp-key-${ID}\n`, undefined],
  ])('%s', (tags, expected) => {
    expect(keyIdFromTags(tags)).toBe(expected);
  });
});

describe('vhost', () => {
  const own = `partner-${ID}`;
  it.each([
    ['own vhost', key(), 'acme', own, '203.0.113.5', 'allow'],
    ['another key of the same org', key(), 'acme', `partner-${OTHER_ID}`, '203.0.113.5', 'wrong_vhost'],
    ['legacy vhost for a per-key key', key(), 'acme', '/', '203.0.113.5', 'wrong_vhost'],
    ['legacy key on /', key({ vhost: null }), 'acme', '/', '203.0.113.5', 'allow'],
    ['legacy key on a partner vhost', key({ vhost: null }), 'acme', own, '203.0.113.5', 'wrong_vhost'],
    ['no tag (no key)', undefined, 'acme', own, '203.0.113.5', 'no_key_tag'],
    ['revoked since login', key({ isActive: false }), 'acme', own, '203.0.113.5', 'inactive'],
    ['expired since login', key({ expiresAt: new Date(NOW - 1) }), 'acme', own, '203.0.113.5', 'expired'],
    ['tag of another org', key(), 'other', own, '203.0.113.5', 'wrong_organization'],
    ['ip inside v4 allowlist', key({ allowedIps: ['203.0.113.0/24'] }), 'acme', own, '203.0.113.5', 'allow'],
    ['ip outside v4 allowlist', key({ allowedIps: ['203.0.113.0/24'] }), 'acme', own, '198.51.100.1', 'ip_not_allowed'],
    ['mapped ip inside v4 allowlist', key({ allowedIps: ['203.0.113.5/32'] }), 'acme', own, '::ffff:203.0.113.5', 'allow'],
    ['mapped ip outside', key({ allowedIps: ['203.0.113.5/32'] }), 'acme', own, '::ffff:203.0.113.6', 'ip_not_allowed'],
    ['bare address entry', key({ allowedIps: ['203.0.113.5'] }), 'acme', own, '203.0.113.5', 'allow'],
    ['v6 inside', key({ allowedIps: ['2001:db8::/32'] }), 'acme', own, '2001:db8::1', 'allow'],
    ['v6 outside', key({ allowedIps: ['2001:db8::/32'] }), 'acme', own, '2001:db9::1', 'ip_not_allowed'],
    ['v4 client, v6-only list', key({ allowedIps: ['2001:db8::/32'] }), 'acme', own, '10.0.0.1', 'ip_not_allowed'],
    ['mapped-v6 range, v4 client', key({ allowedIps: ['::ffff:10.0.0.0/104'] }), 'acme', own, '10.1.2.3', 'allow'],
    ['unparseable ip with a list', key({ allowedIps: ['10.0.0.0/8'] }), 'acme', own, 'not-an-ip', 'ip_not_allowed'],
    ['empty ip with a list', key({ allowedIps: ['10.0.0.0/8'] }), 'acme', own, '', 'ip_not_allowed'],
    ['unparseable ip, no list', key(), 'acme', own, 'not-an-ip', 'allow'],
    // The probe window (migrations/006): the probing host's own addresses, this key, until probeUntil.
    [
      'probe window: probing host admitted outside the allowlist',
      key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW + 5000), probeIps: ['127.0.0.1', '192.0.2.7'] }),
      'acme',
      own,
      '127.0.0.1',
      'allow',
    ],
    [
      'probe window: mapped form of a probing address',
      key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW + 5000), probeIps: ['192.0.2.7'] }),
      'acme',
      own,
      '::ffff:192.0.2.7',
      'allow',
    ],
    ['probe window: v6 probing address', key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW + 5000), probeIps: ['::1'] }), 'acme', own, '::1', 'allow'],
    [
      'probe window: another loopback address is not the probing host',
      key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW + 5000), probeIps: ['127.0.0.1'] }),
      'acme',
      own,
      '127.0.0.2',
      'ip_not_allowed',
    ],
    [
      'probe window: any other address still refused',
      key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW + 5000), probeIps: ['127.0.0.1'] }),
      'acme',
      own,
      '203.0.113.9',
      'ip_not_allowed',
    ],
    [
      'probe window: a suffix is not an address',
      key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW + 5000), probeIps: ['0.0.1'] }),
      'acme',
      own,
      '::ffff:127.0.0.1',
      'ip_not_allowed',
    ],
    [
      'probe window: no addresses, nothing admitted',
      key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW + 5000) }),
      'acme',
      own,
      '127.0.0.1',
      'ip_not_allowed',
    ],
    [
      'after the probe window',
      key({ allowedIps: ['10.0.0.0/8'], probeUntil: new Date(NOW), probeIps: ['127.0.0.1'] }),
      'acme',
      own,
      '127.0.0.1',
      'ip_not_allowed',
    ],
    [
      'probe window does not open other vhosts',
      key({ probeUntil: new Date(NOW + 5000), probeIps: ['127.0.0.1'] }),
      'acme',
      `partner-${OTHER_ID}`,
      '127.0.0.1',
      'wrong_vhost',
    ],
    [
      'probe window does not admit a revoked key',
      key({ isActive: false, probeUntil: new Date(NOW + 5000), probeIps: ['127.0.0.1'] }),
      'acme',
      own,
      '127.0.0.1',
      'inactive',
    ],
    ['broken stored entry matches nothing', key({ allowedIps: ['garbage'] }), 'acme', own, '10.0.0.1', 'ip_not_allowed'],
  ])('%s', (_, k, username, vhost, ip, expected) => {
    expect(decideVhost(k, username, vhost, ip, NOW)).toBe(expected);
  });
});

describe('resource', () => {
  const own = `partner-${ID}`;
  const writer = key({ scopes: ['vcp:connect', 'vcp:write:setpoint'] });
  it.each([
    ['consume own telemetry', key(), own, 'queue', 'vcp.acme.event.telemetry', 'read', 'allow'],
    ['consume own alarm', key(), own, 'queue', 'vcp.acme.event.alarm', 'read', 'allow'],
    ['consume own status', key(), own, 'queue', 'vcp.acme.event.status', 'read', 'allow'],
    ['consume own command queue', key(), own, 'queue', 'vcp.acme.command', 'read', 'queue_not_readable'],
    ['consume another org', key(), own, 'queue', 'vcp.other.event.telemetry', 'read', 'queue_not_readable'],
    ['slug prefix trick', key(), own, 'queue', 'vcp.acme-evil.event.telemetry', 'read', 'queue_not_readable'],
    ['queue write', key(), own, 'queue', 'vcp.acme.event.telemetry', 'write', 'queue_write_refused'],
    ['queue configure', key(), own, 'queue', 'vcp.acme.event.telemetry', 'configure', 'declare_refused'],
    ['exchange write with a write scope', writer, own, 'exchange', 'vcp', 'write', 'allow'],
    ['exchange write without one', key(), own, 'exchange', 'vcp', 'write', 'no_write_scope'],
    ['exchange read', writer, own, 'exchange', 'vcp', 'read', 'exchange_read_refused'],
    ['exchange configure', writer, own, 'exchange', 'vcp', 'configure', 'declare_refused'],
    ['default exchange', writer, own, 'exchange', 'amq.default', 'write', 'exchange_not_vcp'],
    ['other exchange', writer, own, 'exchange', 'amq.topic', 'write', 'exchange_not_vcp'],
    ['wrong vhost', key(), `partner-${OTHER_ID}`, 'queue', 'vcp.acme.event.telemetry', 'read', 'wrong_vhost'],
    ['no key', undefined, own, 'queue', 'vcp.acme.event.telemetry', 'read', 'no_key_tag'],
    ['unknown resource', writer, own, 'topic', 'vcp', 'write', 'not_permitted'],
    ['legacy expanded key may publish', key({ legacyScopeExpansion: true }), own, 'exchange', 'vcp', 'write', 'allow'],
  ])('%s', (_, k, vhost, resource, name, permission, expected) => {
    expect(decideResource(k, 'acme', vhost, resource, name, permission, NOW)).toBe(expected);
  });
});

describe('routing-key table', () => {
  it.each([
    ['command.site-setpoint', 'vcp:write:setpoint'],
    ['command.device', 'vcp:write:device-command'],
    ['command.device.dev-42', 'vcp:write:device-command'],
    ['command.mode', 'vcp:write:mode'],
    ['schedule.create', 'vcp:write:schedule'],
    ['schedule.cancel', 'vcp:write:schedule'],
    ['config.limits', 'vcp:write:config'],
    ['command.emergency', undefined],
    ['command.site-setpoint.x', undefined],
    ['command.mode.x', undefined],
    ['command.device.', undefined],
    ['command.device.a.b', undefined],
    ['command.devicex', undefined],
    ['schedule', undefined],
    ['schedule.', undefined],
    ['config', undefined],
    ['event.telemetry.realtime.s1', undefined],
    ['', undefined],
  ])('%s → %s', (rest, scope) => {
    expect(requiredPublishScope(rest)).toBe(scope);
  });

  it('covers every write scope exactly once', () => {
    expect(ROUTING_KEY_SCOPES.map((r) => r.scope).sort()).toEqual([...WRITE_SCOPES].sort());
  });
});

describe('topic', () => {
  const own = `partner-${ID}`;
  const all = key({ scopes: ['vcp:connect', ...WRITE_SCOPES] });
  const cases: [string, KeyRecord | undefined, string, string, string, string, string][] = [
    ['setpoint with scope', key({ scopes: ['vcp:connect', 'vcp:write:setpoint'] }), 'vcp', 'write', 'acme.command.site-setpoint', own, 'allow'],
    ['setpoint without scope', key({ scopes: ['vcp:connect', 'vcp:write:mode'] }), 'vcp', 'write', 'acme.command.site-setpoint', own, 'needs_write_setpoint'],
    ['device with scope', key({ scopes: ['vcp:connect', 'vcp:write:device-command'] }), 'vcp', 'write', 'acme.command.device.d1', own, 'allow'],
    ['device without scope', key(), 'vcp', 'write', 'acme.command.device.d1', own, 'needs_write_device_command'],
    ['mode with scope', key({ scopes: ['vcp:connect', 'vcp:write:mode'] }), 'vcp', 'write', 'acme.command.mode', own, 'allow'],
    ['schedule with scope', key({ scopes: ['vcp:connect', 'vcp:write:schedule'] }), 'vcp', 'write', 'acme.schedule.create', own, 'allow'],
    ['schedule without scope', key({ scopes: ['vcp:connect', 'vcp:write:config'] }), 'vcp', 'write', 'acme.schedule.create', own, 'needs_write_schedule'],
    ['config with scope', key({ scopes: ['vcp:connect', 'vcp:write:config'] }), 'vcp', 'write', 'acme.config.limits', own, 'allow'],
    ['emergency even with every scope', all, 'vcp', 'write', 'acme.command.emergency', own, 'routing_key_unknown'],
    ['cross-org routing key', all, 'vcp', 'write', 'other.command.mode', own, 'routing_key_other_org'],
    ['slug without dot', all, 'vcp', 'write', 'acmecommand.mode', own, 'routing_key_other_org'],
    ['slug prefix of another slug', all, 'vcp', 'write', 'acme-evil.command.mode', own, 'routing_key_other_org'],
    ['bare slug', all, 'vcp', 'write', 'acme', own, 'routing_key_other_org'],
    ['publishing events', all, 'vcp', 'write', 'acme.event.telemetry.realtime.s1', own, 'routing_key_unknown'],
    ['other exchange', all, 'amq.topic', 'write', 'acme.command.mode', own, 'topic_not_vcp'],
    ['read own events', key(), 'vcp', 'read', 'acme.event.telemetry.#', own, 'allow'],
    ['read own commands', key(), 'vcp', 'read', 'acme.command.#', own, 'binding_not_event'],
    ['read other org events', key(), 'vcp', 'read', 'other.event.#', own, 'routing_key_other_org'],
    ['read wildcard slug', key(), 'vcp', 'read', '*.event.#', own, 'routing_key_other_org'],
    ['configure permission', all, 'vcp', 'configure', 'acme.command.mode', own, 'not_permitted'],
    ['wrong vhost', all, 'vcp', 'write', 'acme.command.mode', `partner-${OTHER_ID}`, 'wrong_vhost'],
    ['no key', undefined, 'vcp', 'write', 'acme.command.mode', own, 'no_key_tag'],
    ['revoked', key({ isActive: false, scopes: ['vcp:connect', 'vcp:write:mode'] }), 'vcp', 'write', 'acme.command.mode', own, 'inactive'],
    ['legacy expanded key', key({ legacyScopeExpansion: true }), 'vcp', 'write', 'acme.command.mode', own, 'allow'],
    [
      'legacy flag with explicit write scopes: only those',
      key({ legacyScopeExpansion: true, scopes: ['vcp:connect', 'vcp:write:setpoint'] }),
      'vcp',
      'write',
      'acme.command.mode',
      own,
      'needs_write_mode',
    ],
    ['new key with only connect cannot publish', key(), 'vcp', 'write', 'acme.command.mode', own, 'needs_write_mode'],
  ];
  it.each(cases)('%s', (_, k, exchange, permission, routingKey, vhost, expected) => {
    expect(decideTopic(k, 'acme', vhost, 'topic', exchange, permission, routingKey, NOW)).toBe(expected);
  });

  it('denies a non-topic resource', () => {
    expect(decideTopic(all, 'acme', own, 'exchange', 'vcp', 'write', 'acme.command.mode', NOW)).toBe('not_permitted');
  });
});

describe('effective scopes', () => {
  it('expands only flagged legacy keys that can connect and have no write scope', () => {
    expect([...effectiveScopes(['vcp:connect'], true)].sort()).toEqual(['vcp:connect', ...WRITE_SCOPES].sort());
    expect([...effectiveScopes(['trading:connect'], true)]).toHaveLength(1 + WRITE_SCOPES.length);
    expect([...effectiveScopes(['vcp:connect'], false)]).toEqual(['vcp:connect']);
    expect([...effectiveScopes(['vcp:read'], true)]).toEqual(['vcp:read']);
    expect([...effectiveScopes(['vcp:connect', 'vcp:write:mode'], true)].sort()).toEqual(['vcp:connect', 'vcp:write:mode']);
  });
});

describe('probe window addresses', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.0.0.7', '10.0.0.7'],
    ['fe80::1%eth0', 'fe80::1'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['::1', '::1'],
    ['10.0.0.0/8', undefined],
    ['not an address', undefined],
  ])('normaliseAddress(%s) = %s', (text, expected) => {
    expect(normaliseAddress(text)).toBe(expected);
  });
});
