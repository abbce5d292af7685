// POST /api/v1/partner/api-keys: mint, without and with a (fake) broker.
// Happy, error and security cases of this one route.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateApiKeyResponse } from '../src/http/admin/schemas.js';
import { classifyKey, displayPrefix } from '../src/keys/format.js';
import { decryptSigningKey } from '../src/keys/signing.js';
import { claimKeysToDeprovision } from '../src/store/reconcile.js';
import {
  type AdminHarness,
  API_KEY_FIELDS,
  countRows,
  expectEnvelope,
  expectGuarded,
  FakeBroker,
  harnessWithTwoOrgs,
  type Org,
  withFakeBroker,
} from './support/admin.js';

describe('without a broker', () => {
  let h: AdminHarness;
  let org: Org;
  let other: Org;
  const KEYS = '/api/v1/partner/api-keys';

  beforeAll(async () => ({ h, org, other } = await harnessWithTwoOrgs()));
  afterAll(async () => {
    await h.close();
  });

  describe('POST /api/v1/partner/api-keys (mint)', () => {
    it('answers 201 with key, signingKey, apiKey and connection, exactly as documented', async () => {
      const plant = randomUUID();
      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      const r = await h.mint(org.id, {
        name: 'ESM integration key',
        partnerId: 'my-esm-platform',
        scopes: ['vcp:connect', 'vcp:read', 'vcp:write:setpoint', 'vcp:connect'],
        allowedIps: ['203.0.113.5/32', '198.51.100.7', '2001:db8::1', '10.20.30.0/24'],
        allowedPlantIds: [plant],
        expiresAt,
      });
      expect(r.status).toBe(201);
      expect(Object.keys(r.body).sort()).toEqual(['apiKey', 'connection', 'key', 'signingKey']);
      const body = CreateApiKeyResponse.parse(r.body);
      expect(Object.keys(body.apiKey).sort()).toEqual(API_KEY_FIELDS);
      expect(r.headers.get('cache-control')).toBe('no-store');

      const { key, signingKey, apiKey, connection } = body;
      expect(classifyKey(key)).toBe('current');
      expect(signingKey).toMatch(/^[0-9a-f]{64}$/);
      expect(apiKey).toMatchObject({
        keyPrefix: displayPrefix(key),
        name: 'ESM integration key',
        partnerId: 'my-esm-platform',
        scopes: ['vcp:connect', 'vcp:read', 'vcp:write:setpoint'],
        allowedIps: ['203.0.113.5/32', '198.51.100.7/32', '2001:db8::1/128', '10.20.30.0/24'],
        vhost: `partner-${apiKey.id}`,
        isActive: true,
        expiresAt,
        lastUsedAt: null,
        organizationId: org.id,
      });
      expect(apiKey.createdBy).toBe(apiKey.creator!.id);
      expect(Object.keys(apiKey.creator!).sort()).toEqual(['createdAt', 'email', 'id', 'name', 'role', 'updatedAt']);

      expect(connection).toEqual({
        uri: `amqps://${org.slug}:${encodeURIComponent(key)}@amqp.example.test:5671/partner-${apiKey.id}`,
        host: 'amqp.example.test',
        port: 5671,
        username: org.slug,
        vhost: `partner-${apiKey.id}`,
        queues: {
          telemetry: `vcp.${org.slug}.event.telemetry`,
          alarm: `vcp.${org.slug}.event.alarm`,
          status: `vcp.${org.slug}.event.status`,
          command: `vcp.${org.slug}.command`,
          schedule: `vcp.${org.slug}.schedule`,
          config: `vcp.${org.slug}.config`,
        },
        selfTest: { status: 'skipped' },
      });

      const [row] = await h.db.sql`
        SELECT key_hash, key_prefix, vhost, legacy_scope_expansion, allowed_plant_ids, signing_key_enc, is_active, created_by
        FROM api_keys WHERE id = ${apiKey.id}`;
      expect(row!.keyHash).toBe(h.deps.hasher.current(key));
      expect(row!.keyPrefix).toBe(displayPrefix(key));
      expect(row!.vhost).toBe(`partner-${apiKey.id}`);
      expect(row!.legacyScopeExpansion).toBe(false);
      expect(row!.allowedPlantIds).toEqual([plant]);
      expect(decryptSigningKey(row!.signingKeyEnc as Buffer, h.config.signingKeyEncryptionKey)).toBe(signingKey);

      const events = await h.db.sql`SELECT type, actor_id, details FROM audit_events WHERE api_key_id = ${apiKey.id}`;
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'api_key.created', actorId: apiKey.createdBy });
      expect(events[0]!.details).toMatchObject({ scopes: apiKey.scopes, vhost: apiKey.vhost, signingKey: true });
    });

    it('gives a signing key only with a vcp:write:* scope (null otherwise, nothing stored)', async () => {
      for (const scopes of [['vcp:connect'], ['vcp:connect', 'vcp:read'], ['plants:read', 'trading:write', 'config:write'], ['trading:connect']]) {
        const r = await h.mint(org.id, { scopes });
        expect(r.status).toBe(201);
        expect(r.body.signingKey).toBeNull();
        const [row] = await h.db.sql`SELECT signing_key_enc FROM api_keys WHERE id = ${r.body.apiKey.id}`;
        expect(row!.signingKeyEnc).toBeNull();
      }
      for (const scope of ['vcp:write:setpoint', 'vcp:write:device-command', 'vcp:write:schedule', 'vcp:write:mode', 'vcp:write:config']) {
        const r = await h.mint(org.id, { scopes: [scope] });
        expect(r.body.signingKey).toMatch(/^[0-9a-f]{64}$/);
        const [row] = await h.db.sql`SELECT signing_key_enc FROM api_keys WHERE id = ${r.body.apiKey.id}`;
        const enc = row!.signingKeyEnc as Buffer;
        expect(enc.toString('hex')).not.toContain(r.body.signingKey);
        expect(decryptSigningKey(enc, h.config.signingKeyEncryptionKey)).toBe(r.body.signingKey);
      }
    });

    it('omitted optional fields: no IP restriction, all plants, no expiry', async () => {
      const r = await h.mint(org.id, { allowedIps: null, allowedPlantIds: null, expiresAt: null });
      expect(r.status).toBe(201);
      expect(r.body.apiKey).toMatchObject({ allowedIps: [], expiresAt: null });
      const [row] = await h.db.sql`SELECT allowed_ips, allowed_plant_ids FROM api_keys WHERE id = ${r.body.apiKey.id}`;
      expect(row).toEqual({ allowedIps: [], allowedPlantIds: null });
    });

    it('every key and vhost is distinct', async () => {
      const a = await h.mint(org.id);
      const b = await h.mint(org.id);
      expect(a.body.key).not.toBe(b.body.key);
      expect(a.body.apiKey.vhost).not.toBe(b.body.apiKey.vhost);
    });

    const invalid: [string, Record<string, unknown>][] = [
      ['empty scopes', { scopes: [] }],
      ['unknown scope', { scopes: ['vcp:connect', 'vcp:admin'] }],
      ['scopes not an array', { scopes: 'vcp:connect' }],
      ['missing scopes', { scopes: undefined }],
      ['bad CIDR', { allowedIps: ['10.0.0.0/33'] }],
      ['not an address', { allowedIps: ['example.com'] }],
      ['partial address', { allowedIps: ['10.1'] }],
      ['plant id not a UUID', { allowedPlantIds: ['plant-1'] }],
      ['expiresAt in the past', { expiresAt: '2020-01-01T00:00:00Z' }],
      ['expiresAt now-ish', { expiresAt: new Date(Date.now() - 1000).toISOString() }],
      ['expiresAt without offset', { expiresAt: '2999-01-01T00:00:00' }],
      ['expiresAt not a date', { expiresAt: 'tomorrow' }],
      ['expiresAt past the year 9999 in UTC', { expiresAt: '9999-12-31T23:59:59-23:59' }],
      ['empty name', { name: '' }],
      ['name of 101 chars', { name: 'x'.repeat(101) }],
      ['partnerId of 101 chars', { partnerId: 'x'.repeat(101) }],
      ['empty partnerId', { partnerId: '' }],
      ['name not a string', { name: 5 }],
      ['NUL in name (PostgreSQL cannot store it)', { name: 'a\u0000b' }],
      ['control character in partnerId', { partnerId: 'a\nb' }],
      ['unknown field', { isActive: false }],
      ['vhost cannot be chosen', { vhost: '/' }],
    ];
    for (const [what, patch] of invalid) {
      it(`rejects ${what}: 400 VALIDATION_ERROR`, async () => {
        const before = await h.db.sql`SELECT count(*)::int AS n FROM api_keys`;
        const r = await h.mint(org.id, patch);
        expectEnvelope(r, 400, 'VALIDATION_ERROR');
        expect(r.body.details.issues.length).toBeGreaterThan(0);
        expect(r.body.details.issues[0].path).toMatch(/^body/);
        const after = await h.db.sql`SELECT count(*)::int AS n FROM api_keys`;
        expect(after[0]!.n).toBe(before[0]!.n);
      });
    }

    it('a past expiresAt names the field', async () => {
      const r = await h.mint(org.id, { expiresAt: '2020-01-01T00:00:00Z' });
      expect(r.body.details.issues).toEqual([{ path: 'body.expiresAt', code: 'custom', message: 'must be in the future' }]);
    });

    it('rejects a body that is not an object', async () => {
      for (const body of [[], 'text', 42, null]) {
        expectEnvelope(await h.call('POST', KEYS, { orgId: org.id, body }), 400, 'VALIDATION_ERROR');
      }
    });

    it('accepts the boundaries: 100-char name and partnerId', async () => {
      const r = await h.mint(org.id, { name: 'n'.repeat(100), partnerId: 'p'.repeat(100) });
      expect(r.status).toBe(201);
    });
  });

  describe('security', () => {
    it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
      await expectGuarded(h, { method: 'POST', path: KEYS, access: 'org', body: { name: 'guarded', partnerId: 'p', scopes: ['vcp:connect'] } }, org.id);
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
        canPublish: false,
        timeoutMs: 10_000,
      });
      // The default queue type (BROKER_QUEUE_TYPE unset), said by the self-test and kept with the key.
      expect(body.connection.selfTest).toEqual({ status: 'passed', durationMs: 12, queueType: 'quorum' });
      const detail = await h.call('GET', `${KEYS}/${body.apiKey.id}`, { orgId: org.id });
      expect(detail.body.connection.queueType).toBe('quorum');
    });

    it('a REST-only key (no vcp:connect, the seeds\' "HTTP read-only" preset): 201, no vhost, no broker call, selfTest not_applicable', async () => {
      const r = await h.mint(org.id, { scopes: ['plants:read', 'telemetry:read'] });
      expect(r.status, r.text).toBe(201);
      const body = CreateApiKeyResponse.parse(r.body);
      expect(broker.calls).toEqual([]);
      expect(body.apiKey.vhost).toBeNull();
      // No AMQP values that cannot work: only the self-test verdict.
      expect(r.body.connection).toEqual({ selfTest: { status: 'not_applicable' } });
      expect(r.body.signingKey).toBeNull();
      // Nothing on the broker to ever remove: revoking it must not send the reconciler to "/"
      // (where a null vhost means a legacy key and the org's connections would be closed).
      const [row] = await h.db.sql<
        { vhost: string | null; deprovisionedAt: Date | null }[]
      >`SELECT vhost, deprovisioned_at FROM api_keys WHERE id = ${body.apiKey.id}`;
      expect(row!.vhost).toBeNull();
      expect(row!.deprovisionedAt).not.toBeNull();
      await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${body.apiKey.id}`;
      const due = await h.db.sql.begin((tx) => claimKeysToDeprovision(tx, 1000));
      expect(due.map((k) => k.id)).not.toContain(body.apiKey.id);
    });

    it('a key that may publish is probed with canPublish (its partner check passive-declares vcp too)', async () => {
      const r = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:mode'] });
      expect(r.status, r.text).toBe(201);
      expect(broker.probes.map((p) => p.canPublish)).toEqual([true]);
    });

    it('the "Internal tool" preset without vcp:connect mints too; with vcp:connect it is probed', async () => {
      const internal = await h.mint(org.id, { scopes: ['vcp:read', 'plants:read', 'telemetry:read', 'config:read'] });
      expect(internal.status, internal.text).toBe(201);
      expect(internal.body.connection).toEqual({ selfTest: { status: 'not_applicable' } });
      expect(broker.calls).toEqual([]);
      const amqp = await h.mint(org.id, { scopes: ['vcp:connect', 'plants:read'] });
      expect(amqp.body.connection.selfTest.status).toBe('passed');
      expect(broker.calls).toHaveLength(2);
    });

    it("the self-test runs in the probe window: this host's own addresses, this key, <= 10 s, closed afterwards", async () => {
      let during: { probeUntil: Date | null; probeIps: string[] } | undefined;
      let others: { n: number } | undefined;
      broker.probe = async function (args) {
        this.calls.push(`probe ${args.vhost}`);
        [during] = await h.db.sql<{ probeUntil: Date | null; probeIps: string[] }[]>`SELECT probe_until, probe_ips FROM api_keys WHERE vhost = ${args.vhost}`;
        [others] = await h.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys WHERE vhost IS DISTINCT FROM ${args.vhost} AND probe_until > now()`;
        return { ok: true, durationMs: 3 };
      };
      try {
        const r = await h.mint(org.id, { allowedIps: ['203.0.113.0/24'] });
        expect(r.status, r.text).toBe(201);
        expect(during!.probeUntil!.getTime()).toBe(fb.clock + 10_000);
        expect(during!.probeIps).toContain('127.0.0.1');
        for (const ip of during!.probeIps) expect(ip).not.toContain('/'); // plain addresses, never a range
        expect(others!.n).toBe(0);
        const [after] = await h.db.sql<
          { probeUntil: Date | null; probeIps: string[] }[]
        >`SELECT probe_until, probe_ips FROM api_keys WHERE id = ${r.body.apiKey.id}`;
        expect(after!.probeUntil!.getTime()).toBe(fb.clock);
        expect(after!.probeIps).toEqual([]);
      } finally {
        broker.probe = FakeBroker.prototype.probe;
      }
    });

    it('provisioning fails: 500 BROKER_SELF_TEST_FAILED, no secret, no key row, no audit row', async () => {
      broker.failProvision = new Error('management API answered 500');
      const before = await countRows(h.db);
      const r = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:setpoint'] });
      expectEnvelope(r, 500, 'BROKER_SELF_TEST_FAILED');
      expect(r.body.details).toEqual({ stage: 'provision' });
      expect(r.text).not.toMatch(/voke_[0-9A-Za-z]{10}/);
      expect(r.text).not.toMatch(/[0-9a-f]{64}/);
      expect(await countRows(h.db)).toEqual(before);
      expect(broker.calls[0]).toMatch(/^provision /);
      expect(broker.calls[1]).toMatch(/^deprovision partner-/);
    });

    it('the probe fails: 500, undone, and the broker error (even holding the key) is not leaked', async () => {
      const before = await countRows(h.db);
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
        expect(await countRows(h.db)).toEqual(before);
        expect(broker.calls.at(-1)).toMatch(/^deprovision partner-/);
        expect(h.logs.join('')).not.toContain(pasted);
        expect(h.logs.some((l) => l.includes('broker self-test failed') && l.includes('ACCESS_REFUSED'))).toBe(true);
      } finally {
        broker.probe = FakeBroker.prototype.probe;
      }
    });

    it('undo also removes what the hot path wrote about the probe login, and survives a failing deprovision', async () => {
      const before = await countRows(h.db);
      broker.failDeprovision = new Error('unreachable');
      broker.probe = async (args) => {
        const [row] = await h.db.sql<{ id: string; organizationId: string }[]>`SELECT id, organization_id FROM api_keys WHERE vhost = ${args.vhost}`;
        await h.db.sql`INSERT INTO audit_events (type, organization_id, api_key_id) VALUES ('partner.connected', ${row!.organizationId}, ${row!.id})`;
        return { ok: false, durationMs: 5, error: 'queue vcp.x.command missing' };
      };
      try {
        expectEnvelope(await h.mint(org.id), 500, 'BROKER_SELF_TEST_FAILED');
        expect(await countRows(h.db)).toEqual(before);
        expect(h.logs.some((l) => l.includes('deprovisioning the vhost failed'))).toBe(true);
      } finally {
        broker.probe = FakeBroker.prototype.probe;
      }
    });

    it('a probe that throws is handled like a failed one', async () => {
      const before = await countRows(h.db);
      broker.probe = async () => {
        throw new Error('socket hang up');
      };
      try {
        expectEnvelope(await h.mint(org.id), 500, 'BROKER_SELF_TEST_FAILED');
        expect(await countRows(h.db)).toEqual(before);
      } finally {
        broker.probe = FakeBroker.prototype.probe;
      }
    });
  });
});
