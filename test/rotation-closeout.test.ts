// The pure parts of rotation: generation tags (bounded, parsed strictly) and the close-out's
// judgement of one broker connection against the recorded vhost checks.
import { describe, expect, it } from 'vitest';
import { type CloseoutRule, judgeConnection, judgeConnections } from '../src/broker/rotation-closeout.js';
import { decideUser } from '../src/policy/decide.js';
import { GENERATION_TAG_MODULUS, generationFromTags, generationTagSuffix, validGeneration } from '../src/policy/generation.js';
import { previousSecretRecord, toKeyRecord } from '../src/policy/key.js';
import type { SecretUse } from '../src/store/secret-uses.js';

const ID = '3f8a0000-0000-4000-8000-000000000001';
const key = (generation: number, previousKeyExpiresAt: Date | null) =>
  toKeyRecord({
    id: ID,
    organizationId: 'o',
    orgSlug: 'acme',
    vhost: `partner-${ID}`,
    isActive: true,
    expiresAt: null,
    scopes: ['vcp:connect'],
    allowedIps: [],
    legacyScopeExpansion: false,
    connected: true,
    generation,
    previousKeyExpiresAt,
  });

describe('generation tags', () => {
  it('a key never rotated answers as before; later generations add one of a bounded set of tags', () => {
    expect(key(0, null).userAnswer).toBe(`allow vcp-key-${ID}`);
    expect(key(1, new Date()).userAnswer).toBe(`allow vcp-key-${ID} vcp-gen-1`);
    expect(key(GENERATION_TAG_MODULUS, new Date()).userAnswer).toBe(`allow vcp-key-${ID}`);
    const tags = new Set(Array.from({ length: 1000 }, (_, g) => generationTagSuffix(g)));
    expect(tags.size).toBe(GENERATION_TAG_MODULUS);
  });

  it('parses strictly: no tag is 0; two, a non-number, a leading zero or an out-of-range one is malformed', () => {
    expect(generationFromTags(null)).toBe(0);
    expect(generationFromTags(`vcp-key-${ID}`)).toBe(0);
    expect(generationFromTags(`vcp-key-${ID} vcp-gen-7`)).toBe(7);
    for (const bad of [`vcp-key-${ID} vcp-gen-1 vcp-gen-2`, 'vcp-gen-x', 'vcp-gen-', 'vcp-gen-07', `vcp-gen-${GENERATION_TAG_MODULUS}`, 'vcp-gen-999']) {
      expect(generationFromTags(bad), bad).toBeNull();
    }
  });

  it('the previous generation is valid only until the overlap ends; older ones never', () => {
    const now = Date.now();
    const k = key(5, new Date(now + 1000));
    expect(validGeneration(k, 5, now)).toBe(5);
    expect(validGeneration(k, 4, now)).toBe(4);
    expect(validGeneration(k, 4, now + 1000)).toBeUndefined();
    expect(validGeneration(k, 3, now)).toBeUndefined();
    const previous = previousSecretRecord(k)!;
    expect(previous.userAnswer).toBe(`allow vcp-key-${ID} vcp-gen-4`);
    expect(decideUser(previous, 'acme', now)).toBe('allow');
    expect(decideUser(previous, 'acme', now + 1000)).toBe('previous_secret_expired');
    expect(previousSecretRecord(key(0, null))).toBeUndefined();
  });
});

describe('judgeConnection', () => {
  const R = 1_000_000_000_000; // the kept generation's creation (the rotation)
  const rule: CloseoutRule = { keepFromGeneration: 1, generationCreatedAt: R, authCacheTtlMs: 0 };
  const now = R + 60_000;
  const conn = (connectedAt: number | undefined, peerHost = '10.0.0.1') => ({
    name: `c${connectedAt}`,
    user: 'acme',
    peerHost,
    ...(connectedAt === undefined ? {} : { connectedAt }),
  });
  const use = (generation: number, at: number, ip = '10.0.0.1'): SecretUse => ({ generation, ip, at });

  it('opened before the kept generation existed (plus the clock tolerance): closed, whatever was recorded', () => {
    expect(judgeConnection(conn(R - 5_000), [use(1, R - 4_990)], rule, now)).toBe('close');
    expect(judgeConnection(conn(R + 500), [use(1, R + 510)], rule, now)).toBe('close');
    expect(judgeConnection(conn(undefined), [], rule, now)).toBe('close');
  });

  it('a kept generation passed its vhost check from its address: kept; an older one: closed; nothing recorded: closed', () => {
    expect(judgeConnection(conn(R + 5_000), [use(1, R + 5_030)], rule, now)).toBe('keep');
    expect(judgeConnection(conn(R + 5_000), [use(0, R + 5_030)], rule, now)).toBe('close');
    expect(judgeConnection(conn(R + 5_000), [], rule, now)).toBe('close');
    // Checks from other addresses or outside [connected_at - tolerance, + handshake timeout + tolerance] do not count.
    expect(judgeConnection(conn(R + 5_000), [use(1, R + 5_030, '10.0.0.2')], rule, now)).toBe('close');
    expect(judgeConnection(conn(R + 5_000), [use(1, R + 5_030), use(0, R + 20_000)], rule, now)).toBe('keep');
    expect(judgeConnection(conn(R + 5_000), [use(1, R + 5_030), use(0, R + 3_000)], rule, now)).toBe('keep');
  });

  it('both kinds of check from its address within its window: closed and counted as ambiguous', () => {
    expect(judgeConnection(conn(R + 5_000), [use(1, R + 5_030), use(0, R + 5_200)], rule, now)).toBe('close-ambiguous');
    // IPv4-mapped addresses on either side are the same address.
    expect(judgeConnection(conn(R + 5_000, '::ffff:10.0.0.1'), [use(1, R + 5_030)], rule, now)).toBe('keep');
  });

  it('a connection younger than the settle time waits for a later pass (its check may not be written yet)', () => {
    expect(judgeConnection(conn(now - 500), [], rule, now)).toBe('wait');
    expect(judgeConnection(conn(now - 500), [], rule, now, 0)).toBe('close');
  });

  it('with the broker auth cache, a check answered from the cache counts from the TTL before, and the cutoff moves by the TTL', () => {
    const cached = { ...rule, authCacheTtlMs: 10_000 };
    expect(judgeConnection(conn(R + 20_000), [use(1, R + 12_000)], cached, now)).toBe('keep');
    expect(judgeConnection(conn(R + 20_000), [use(1, R + 12_000)], rule, now)).toBe('close');
    expect(judgeConnection(conn(R + 8_000), [use(1, R + 8_010)], cached, now)).toBe('close');
  });

  it('pairs connections with checks one to one: a new-secret connection is kept even when its address used the old secret shortly after', () => {
    // fresh (new secret) at +4 s, then old (previous secret) at +6 s, same address: each check can
    // only be its own connection's (old's check is after fresh's, and fresh's before old opened).
    const fresh = conn(R + 4_000);
    const old = conn(R + 6_000);
    const uses = [use(1, R + 4_030), use(0, R + 6_030)];
    expect(judgeConnection(fresh, uses, rule, now)).toBe('close-ambiguous'); // the address rule alone
    expect(judgeConnections([fresh, old], uses, rule, now)).toEqual(['keep', 'close']);
    // The old connection already gone: its check may still be fresh's, so fresh is in doubt.
    expect(judgeConnections([fresh], uses, rule, now)).toEqual(['close-ambiguous']);
  });

  it('overlapping handshakes from one address with both secrets: both closed, counted as ambiguous where a new secret may be one of them', () => {
    const a = conn(R + 4_000);
    const b = conn(R + 4_010);
    const uses = [use(1, R + 4_030), use(0, R + 4_040)];
    expect(judgeConnections([a, b], uses, rule, now)).toEqual(['close-ambiguous', 'close-ambiguous']);
    // Different addresses: nothing to confuse.
    expect(judgeConnections([a, conn(R + 4_010, '10.0.0.2')], [use(1, R + 4_030), use(0, R + 4_040, '10.0.0.2')], rule, now)).toEqual(['keep', 'close']);
  });

  it('checks that cannot cover every connection (one not recorded): the address rule decides', () => {
    const a = conn(R + 4_000);
    const b = conn(R + 6_000);
    expect(judgeConnections([a, b], [use(1, R + 6_030)], rule, now)).toEqual(['keep', 'keep']);
    expect(judgeConnections([a, b], [use(0, R + 6_030)], rule, now)).toEqual(['close', 'close']);
  });

  it('with the broker auth cache (checks answered by the broker leave no record), the address rule decides', () => {
    const cached = { ...rule, authCacheTtlMs: 3_000 };
    const fresh = conn(R + 5_000);
    const old = conn(R + 7_000);
    expect(judgeConnections([fresh, old], [use(1, R + 5_030), use(0, R + 7_030)], cached, now)).toEqual(['close-ambiguous', 'close-ambiguous']);
  });
});
