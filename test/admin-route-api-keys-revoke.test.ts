// DELETE /api/v1/partner/api-keys/:id: revoke, without and with a (fake) broker.
// Happy, error and security cases of this one route.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Message, RevokeResult } from '../src/http/admin/schemas.js';
import {
  type AdminHarness,
  createAdminHarness,
  expectEnvelope,
  expectGuarded,
  type FakeBroker,
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

  describe('DELETE /api/v1/partner/api-keys/:id (revoke)', () => {
    it('revokes: 200 {message}, is_active false, revoked_at set; idempotent with one audit row', async () => {
      const minted = await h.mint(org.id);
      const id = minted.body.apiKey.id as string;
      const first = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id, headers: { 'user-agent': 'revoker/1' } });
      expect(first.status).toBe(200);
      expect(Message.parse(first.body)).toEqual({ message: 'API key revoked' });
      const [row] = await h.db.sql`SELECT is_active, revoked_at FROM api_keys WHERE id = ${id}`;
      expect(row!.isActive).toBe(false);
      expect(row!.revokedAt).toBeInstanceOf(Date);

      const second = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id });
      expect(second.status).toBe(200);
      expect(second.body).toEqual(first.body);
      const [again] = await h.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${id}`;
      expect(again!.revokedAt).toEqual(row!.revokedAt);

      const events = await h.db.sql`SELECT type, user_agent, actor_id FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.revoked'`;
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ userAgent: 'revoker/1', actorId: minted.body.apiKey.createdBy });

      const got = await h.call('GET', `${KEYS}/${id}`, { orgId: org.id });
      expect(got.body.isActive).toBe(false);
    });

    it('concurrent revokes write one audit row', async () => {
      const id = (await h.mint(org.id)).body.apiKey.id as string;
      const results = await Promise.all(Array.from({ length: 5 }, () => h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })));
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      const events = await h.db.sql`SELECT 1 FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.revoked'`;
      expect(events).toHaveLength(1);
    });

    it('a key deactivated by plain SQL gets its revoked_at and audit row from the API', async () => {
      const id = (await h.mint(org.id)).body.apiKey.id as string;
      await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
      expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
      const [row] = await h.db.sql`SELECT revoked_at FROM api_keys WHERE id = ${id}`;
      expect(row!.revokedAt).toBeInstanceOf(Date);
    });

    it("another organization's key: 404 and untouched; not a UUID: 400 INVALID_UUID", async () => {
      const theirs = (await h.mint(other.id)).body.apiKey.id as string;
      expectEnvelope(await h.call('DELETE', `${KEYS}/${theirs}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
      const [row] = await h.db.sql`SELECT is_active FROM api_keys WHERE id = ${theirs}`;
      expect(row!.isActive).toBe(true);
      expectEnvelope(await h.call('DELETE', `${KEYS}/123`, { orgId: org.id }), 400, 'INVALID_UUID');
      expectEnvelope(await h.call('DELETE', `${KEYS}/${randomUUID()}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    });
  });

  describe('security', () => {
    it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
      await expectGuarded(h, { method: 'DELETE', path: `${KEYS}/${(await h.mint(org.id)).body.apiKey.id}`, access: 'org' }, org.id);
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

  describe('revoke with a broker', () => {
    it('deprovisions the vhost after the revocation commits and records deprovisioned_at', async () => {
      const id = (await h.mint(org.id)).body.apiKey.id as string;
      broker.calls.length = 0;
      expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
      expect(broker.calls).toEqual([`deprovision partner-${id}`]);
      const [row] = await h.db.sql`SELECT deprovisioned_at FROM api_keys WHERE id = ${id}`;
      expect(row!.deprovisionedAt).toBeInstanceOf(Date);
      broker.calls.length = 0;
      expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
      expect(broker.calls).toEqual([]);
    });

    it('a failing deprovision does not fail the revocation (the reconciler retries)', async () => {
      const id = (await h.mint(org.id)).body.apiKey.id as string;
      broker.failDeprovision = new Error('unreachable');
      expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
      const [row] = await h.db.sql`SELECT is_active, deprovisioned_at FROM api_keys WHERE id = ${id}`;
      expect(row).toEqual({ isActive: false, deprovisionedAt: null });
    });
  });
});

describe('with the broker auth cache profile (BROKER_AUTH_CACHE_TTL_MS)', () => {
  let h: AdminHarness;
  let plain: AdminHarness;
  const KEYS = '/api/v1/partner/api-keys';

  beforeAll(async () => {
    [h, plain] = await Promise.all([createAdminHarness({ env: { BROKER_AUTH_CACHE_TTL_MS: '30000' } }), createAdminHarness()]);
  });
  afterAll(async () => {
    await Promise.all([h.close(), plain.close()]);
  });

  it('says when the last cached answer expires: revoked_at + TTL, the same on a repeated revoke', async () => {
    const org = await h.createOrg();
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    const first = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id });
    expect(first.status).toBe(200);
    expect(RevokeResult.parse(first.body)).toEqual(first.body);
    const [row] = await h.db.sql<{ revokedAt: Date }[]>`SELECT revoked_at FROM api_keys WHERE id = ${id}`;
    expect(first.body.cachedAnswersExpireAt).toBe(new Date(row!.revokedAt.getTime() + 30_000).toISOString());
    const again = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id });
    expect(again.body).toEqual(first.body);
  });

  it('a key revoked by plain SQL: counted from when SQL revoked it', async () => {
    const org = await h.createOrg();
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
    const [row] = await h.db.sql<{ revokedAt: Date }[]>`SELECT revoked_at FROM api_keys WHERE id = ${id}`;
    const r = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id });
    expect(r.body.cachedAnswersExpireAt).toBe(new Date(row!.revokedAt.getTime() + 30_000).toISOString());
  });

  it('without the profile: cachedAnswersExpireAt is null', async () => {
    const org = await plain.createOrg();
    const id = (await plain.mint(org.id)).body.apiKey.id as string;
    const r = await plain.call('DELETE', `${KEYS}/${id}`, { orgId: org.id });
    expect(r.body).toEqual({ message: 'API key revoked', cachedAnswersExpireAt: null });
  });

  it('a bad BROKER_AUTH_CACHE_TTL_MS is refused at start with a clear message', async () => {
    const { loadConfig } = await import('../src/config/index.js');
    for (const bad of ['-1', '3s', '1.5', 'abc']) {
      expect(() => loadConfig({ BROKER_AUTH_CACHE_TTL_MS: bad, DATA_DIR: '/nonexistent-voke' }), bad).toThrow(
        /BROKER_AUTH_CACHE_TTL_MS must be a whole number of milliseconds/,
      );
    }
    expect(
      loadConfig({
        BROKER_AUTH_CACHE_TTL_MS: '',
        API_KEY_PEPPER: 'p',
        SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'),
        ADMIN_TOKENS: 't',
        JWT_SECRET: 'j',
      }).config.brokerAuthCacheTtlMs,
    ).toBe(0);
  });
});
