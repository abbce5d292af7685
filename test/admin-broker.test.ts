// Mint, revoke and test-connection with a (fake) broker: provisioning, the self-test, undo.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CreateApiKeyResponse } from '../src/http/admin/schemas.js';
import { createAdminHarness, expectEnvelope, FakeBroker, type AdminHarness } from './support/admin.js';

let h: AdminHarness;
let broker: FakeBroker;
let org: { id: string; slug: string };
let clock = Date.now();
const KEYS = '/api/v1/partner/api-keys';

beforeAll(async () => {
  broker = new FakeBroker();
  h = await createAdminHarness({ broker, now: () => new Date(clock) });
  org = await h.createOrg();
});
afterAll(async () => { await h.close(); });
beforeEach(() => {
  broker.calls.length = 0;
  broker.probes.length = 0;
  broker.failProvision = undefined;
  broker.failDeprovision = undefined;
  broker.probeResult = { ok: true, durationMs: 12 };
  clock = Date.now();
});

const countRows = async () => {
  const [k] = await h.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys`;
  const [a] = await h.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_events`;
  return { keys: k!.n, audit: a!.n };
};

describe('mint with a broker', () => {
  it('provisions the vhost, probes as the partner, answers selfTest passed', async () => {
    const r = await h.mint(org.id);
    expect(r.status).toBe(201);
    const body = CreateApiKeyResponse.parse(r.body);
    const vhost = `partner-${body.apiKey.id}`;
    expect(broker.calls).toEqual([`provision ${vhost} ${org.slug}`, `probe ${vhost} ${org.slug}`]);
    expect(broker.probes[0]).toEqual({
      amqpUrl: 'amqp://127.0.0.1:5672',
      username: org.slug,
      password: body.key,
      vhost,
      slug: org.slug,
      timeoutMs: 10_000,
    });
    expect(body.connection.selfTest).toEqual({ status: 'passed', durationMs: 12 });
  });

  it('provisioning fails: 500 BROKER_SELF_TEST_FAILED, no secret, no key row, no audit row', async () => {
    broker.failProvision = new Error('management API answered 500');
    const before = await countRows();
    const r = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:setpoint'] });
    expectEnvelope(r, 500, 'BROKER_SELF_TEST_FAILED');
    expect(r.body.details).toEqual({ stage: 'provision' });
    expect(r.text).not.toMatch(/voke_[0-9A-Za-z]{10}/);
    expect(r.text).not.toMatch(/[0-9a-f]{64}/);
    expect(await countRows()).toEqual(before);
    expect(broker.calls[0]).toMatch(/^provision /);
    expect(broker.calls[1]).toMatch(/^deprovision partner-/);
  });

  it('the probe fails: 500, undone, and the broker error (even holding the key) is not leaked', async () => {
    const before = await countRows();
    let pasted = '';
    broker.probe = async function (args) {
      pasted = args.password;
      this.calls.push(`probe ${args.vhost}`);
      return { ok: false, durationMs: 40, error: `ACCESS_REFUSED for amqp://${args.username}:${args.password}@host/${args.vhost}` };
    };
    try {
      const r = await h.mint(org.id);
      expectEnvelope(r, 500, 'BROKER_SELF_TEST_FAILED');
      expect(r.body.details).toEqual({ stage: 'probe' });
      expect(r.text).not.toContain(pasted);
      expect(await countRows()).toEqual(before);
      expect(broker.calls.at(-1)).toMatch(/^deprovision partner-/);
      expect(h.logs.join('')).not.toContain(pasted);
      expect(h.logs.some((l) => l.includes('broker self-test failed') && l.includes('ACCESS_REFUSED'))).toBe(true);
    } finally {
      broker.probe = FakeBroker.prototype.probe;
    }
  });

  it('undo also removes what the hot path wrote about the probe login, and survives a failing deprovision', async () => {
    const before = await countRows();
    broker.failDeprovision = new Error('unreachable');
    broker.probe = async function (args) {
      const [row] = await h.db.sql<{ id: string; organization_id: string }[]>`SELECT id, organization_id FROM api_keys WHERE vhost = ${args.vhost}`;
      await h.db.sql`INSERT INTO audit_events (type, organization_id, api_key_id) VALUES ('partner.connected', ${row!.organization_id}, ${row!.id})`;
      return { ok: false, durationMs: 5, error: 'queue vcp.x.command missing' };
    };
    try {
      expectEnvelope(await h.mint(org.id), 500, 'BROKER_SELF_TEST_FAILED');
      expect(await countRows()).toEqual(before);
      expect(h.logs.some((l) => l.includes('deprovisioning the vhost failed'))).toBe(true);
    } finally {
      broker.probe = FakeBroker.prototype.probe;
    }
  });

  it('a probe that throws is handled like a failed one', async () => {
    const before = await countRows();
    broker.probe = async () => { throw new Error('socket hang up'); };
    try {
      expectEnvelope(await h.mint(org.id), 500, 'BROKER_SELF_TEST_FAILED');
      expect(await countRows()).toEqual(before);
    } finally {
      broker.probe = FakeBroker.prototype.probe;
    }
  });
});

describe('revoke with a broker', () => {
  it('deprovisions the vhost after the revocation commits and records deprovisioned_at', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    broker.calls.length = 0;
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    expect(broker.calls).toEqual([`deprovision partner-${id}`]);
    const [row] = await h.db.sql`SELECT deprovisioned_at FROM api_keys WHERE id = ${id}`;
    expect(row!.deprovisioned_at).toBeInstanceOf(Date);
    broker.calls.length = 0;
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    expect(broker.calls).toEqual([]);
  });

  it('a failing deprovision does not fail the revocation (the reconciler retries)', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    broker.failDeprovision = new Error('unreachable');
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    const [row] = await h.db.sql`SELECT is_active, deprovisioned_at FROM api_keys WHERE id = ${id}`;
    expect(row).toEqual({ is_active: false, deprovisioned_at: null });
  });
});

describe('test-connection with a broker', () => {
  it('probes with the pasted key on the key vhost: {ok, durationMs}, audited without the key', async () => {
    const minted = await h.mint(org.id);
    const id = minted.body.apiKey.id as string;
    broker.probes.length = 0;
    const r = await h.call('POST', `${KEYS}/${id}/test-connection`, { orgId: org.id, body: { key: minted.body.key } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, durationMs: 12 });
    expect(broker.probes[0]).toMatchObject({ username: org.slug, password: minted.body.key, vhost: `partner-${id}` });
    const [event] = await h.db.sql`SELECT details, actor_id FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.test_connection'`;
    expect(event!.details).toEqual({ ok: true, durationMs: 12, error: null });
    expect(JSON.stringify(event)).not.toContain(minted.body.key);
  });

  it('a broker error is returned (actionable) with the key scrubbed', async () => {
    const minted = await h.mint(org.id);
    broker.probe = async (args) => ({ ok: false, durationMs: 30, error: `vhost refused for password ${args.password}` });
    try {
      const r = await h.call('POST', `${KEYS}/${minted.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: minted.body.key } });
      expect(r.body).toEqual({ ok: false, durationMs: 30, error: 'vhost refused for password ***' });
    } finally {
      broker.probe = FakeBroker.prototype.probe;
    }
  });

  it('revoked and expired keys are reported without probing', async () => {
    const revoked = await h.mint(org.id);
    await h.call('DELETE', `${KEYS}/${revoked.body.apiKey.id}`, { orgId: org.id });
    const expiring = await h.mint(org.id, { expiresAt: new Date(clock + 60_000).toISOString() });
    broker.probes.length = 0;
    const r1 = await h.call('POST', `${KEYS}/${revoked.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: revoked.body.key } });
    expect(r1.body).toEqual({ ok: false, error: 'This API key is revoked' });
    clock += 120_000;
    const r2 = await h.call('POST', `${KEYS}/${expiring.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: expiring.body.key } });
    expect(r2.body).toEqual({ ok: false, error: 'This API key has expired' });
    expect(broker.probes).toEqual([]);
  });

  it('a legacy key (vhost null, plain SHA-256 hash) is probed on "/"', async () => {
    const { plainSha256 } = await import('../src/keys/hash.js');
    const legacyKey = 'legacy-secret-key-0123456789';
    const [row] = await h.db.sql<{ id: string }[]>`
      INSERT INTO api_keys (organization_id, key_hash, key_prefix, name, partner_id, scopes)
      VALUES (${org.id}, ${plainSha256(legacyKey)}, 'legacy-se', 'old', 'p', '{vcp:connect}') RETURNING id`;
    broker.probes.length = 0;
    const r = await h.call('POST', `${KEYS}/${row!.id}/test-connection`, { orgId: org.id, body: { key: legacyKey } });
    expect(r.body.ok).toBe(true);
    expect(broker.probes[0]).toMatchObject({ vhost: '/', password: legacyKey });
  });
});
