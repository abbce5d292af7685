// POST /api/v1/partner/api-keys/:id/test-connection: without and with a (fake) broker.
// Happy, error and security cases of this one route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestConnectionResponse } from '../src/http/admin/schemas.js';
import { BROKER_NOT_CONFIGURED } from '../src/keys/test-connection.js';
import { keyUsable, UNUSABLE_MESSAGES } from '../src/keys/usable.js';
import { toKeyRecord } from '../src/policy/key.js';
import { type AdminHarness, expectEnvelope, expectGuarded, FakeBroker, harnessWithTwoOrgs, type Org, withFakeBroker } from './support/admin.js';

describe('without a broker', () => {
  let h: AdminHarness;
  let org: Org;
  let other: Org;
  const KEYS = '/api/v1/partner/api-keys';

  beforeAll(async () => ({ h, org, other } = await harnessWithTwoOrgs()));
  afterAll(async () => {
    await h.close();
  });

  describe('POST /api/v1/partner/api-keys/:id/test-connection without a broker', () => {
    it('the right key: ok false "broker not configured", audited without the key', async () => {
      const minted = await h.mint(org.id);
      const id = minted.body.apiKey.id as string;
      const r = await h.call('POST', `${KEYS}/${id}/test-connection`, { orgId: org.id, body: { key: minted.body.key } });
      expect(r.status).toBe(200);
      expect(TestConnectionResponse.parse(r.body)).toEqual({ ok: false, error: BROKER_NOT_CONFIGURED });
      const [event] = await h.db.sql`SELECT details FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.test_connection'`;
      expect(event!.details).toEqual({ ok: false, durationMs: null, error: BROKER_NOT_CONFIGURED });
    });

    it("a key that is not this key's secret: ok false, no probe", async () => {
      const a = await h.mint(org.id);
      const b = await h.mint(org.id);
      const r = await h.call('POST', `${KEYS}/${a.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: b.body.key } });
      expect(r.body).toEqual({ ok: false, error: 'The pasted key is not the secret of this API key' });
    });

    it('errors: missing key 400, oversized key 400, unknown field 400, other org 404, bad id 400', async () => {
      const minted = await h.mint(org.id);
      const path = `${KEYS}/${minted.body.apiKey.id}/test-connection`;
      expectEnvelope(await h.call('POST', path, { orgId: org.id, body: {} }), 400, 'VALIDATION_ERROR');
      expectEnvelope(await h.call('POST', path, { orgId: org.id, body: { key: 'k'.repeat(513) } }), 400, 'VALIDATION_ERROR');
      expectEnvelope(await h.call('POST', path, { orgId: org.id, body: { key: minted.body.key, vhost: '/' } }), 400, 'VALIDATION_ERROR');
      expectEnvelope(await h.call('POST', path, { orgId: other.id, body: { key: minted.body.key } }), 404, 'API_KEY_NOT_FOUND');
      expectEnvelope(await h.call('POST', `${KEYS}/x/test-connection`, { orgId: org.id, body: { key: 'k' } }), 400, 'INVALID_UUID');
    });

    it('a rejected pasted key is not echoed back in the error details', async () => {
      const minted = await h.mint(org.id);
      const r = await h.call('POST', `${KEYS}/${minted.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: minted.body.key, extra: 1 } });
      expect(r.text).not.toContain(minted.body.key);
    });
  });

  describe('security', () => {
    it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
      await expectGuarded(
        h,
        { method: 'POST', path: `${KEYS}/${(await h.mint(org.id)).body.apiKey.id}/test-connection`, access: 'org', body: { key: 'voke_anything' } },
        org.id,
      );
    });
  });
});

describe('with a broker', () => {
  // A fresh database, a FakeBroker and one org; the broker's record and fb.clock reset before each test.
  const fb = withFakeBroker();
  let h: AdminHarness;
  let broker: FakeBroker;
  let org: Org;
  beforeAll(() => ({ h, broker, org } = fb));
  const KEYS = '/api/v1/partner/api-keys';

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

    it("probes inside the key's probe window: this host's plain addresses, this key only, <= 10 s; closed afterwards, also when the probe fails", async () => {
      const minted = await h.mint(org.id, { allowedIps: ['203.0.113.0/24'] });
      const bystander = await h.mint(org.id, { allowedIps: ['203.0.113.0/24'] });
      const id = minted.body.apiKey.id as string;
      const windows: { probeUntil: Date | null; probeIps: string[] }[] = [];
      let bystanderDuring: { probeUntil: Date | null; probeIps: string[] } | undefined;
      broker.probe = async function (args) {
        this.probes.push(args);
        const [row] = await h.db.sql<{ probeUntil: Date | null; probeIps: string[] }[]>`SELECT probe_until, probe_ips FROM api_keys WHERE id = ${id}`;
        windows.push(row!);
        [bystanderDuring] = await h.db.sql<
          { probeUntil: Date | null; probeIps: string[] }[]
        >`SELECT probe_until, probe_ips FROM api_keys WHERE id = ${bystander.body.apiKey.id}`;
        return windows.length === 1 ? { ok: true, durationMs: 5 } : { ok: false, durationMs: 5, error: 'refused' };
      };
      try {
        for (let i = 0; i < 2; i++) {
          await h.call('POST', `${KEYS}/${id}/test-connection`, { orgId: org.id, body: { key: minted.body.key } });
          const w = windows[i]!;
          expect(w.probeUntil!.getTime()).toBe(fb.clock + 10_000);
          expect(broker.probes.at(-1)!.timeoutMs).toBe(10_000);
          expect(w.probeIps).toContain('127.0.0.1');
          for (const ip of w.probeIps) expect(ip).not.toMatch(/\//);
          expect(bystanderDuring!.probeIps).toEqual([]);
          const [after] = await h.db.sql<{ probeUntil: Date | null; probeIps: string[] }[]>`SELECT probe_until, probe_ips FROM api_keys WHERE id = ${id}`;
          expect(after!.probeUntil!.getTime()).toBe(fb.clock);
          expect(after!.probeIps).toEqual([]);
        }
      } finally {
        broker.probe = FakeBroker.prototype.probe;
      }
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
      const expiring = await h.mint(org.id, { expiresAt: new Date(fb.clock + 60_000).toISOString() });
      broker.probes.length = 0;
      const r1 = await h.call('POST', `${KEYS}/${revoked.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: revoked.body.key } });
      expect(r1.body).toEqual({ ok: false, error: 'This API key is revoked' });
      fb.clock += 120_000;
      const r2 = await h.call('POST', `${KEYS}/${expiring.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: expiring.body.key } });
      expect(r2.body).toEqual({ ok: false, error: 'This API key has expired' });
      expect(broker.probes).toEqual([]);
    });

    it("a key the hot path refuses at login (no connect scope) is reported without probing, by the hot path's rule", async () => {
      const noConnect = await h.mint(org.id, { scopes: ['vcp:read'] });
      expect(noConnect.status).toBe(201);
      broker.probes.length = 0;
      const r = await h.call('POST', `${KEYS}/${noConnect.body.apiKey.id}/test-connection`, { orgId: org.id, body: { key: noConnect.body.key } });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ ok: false, error: UNUSABLE_MESSAGES.missing_connect_scope });
      expect(broker.probes).toEqual([]);
      // The reason in words comes from the same vocabulary the hot path decides with.
      const record = toKeyRecord({
        id: 'k',
        organizationId: org.id,
        orgSlug: org.slug,
        vhost: null,
        isActive: true,
        expiresAt: null,
        scopes: ['vcp:read'],
        allowedIps: [],
        legacyScopeExpansion: false,
        connected: false,
      });
      expect(keyUsable(record, org.slug, Date.now())).toBe('missing_connect_scope');
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
});
