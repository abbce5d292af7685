// The reconciler against real PostgreSQL, with a broker double that fails on demand: what it
// retries, what it reports as owed (the backlog /metrics and /readyz show), and how long a
// revoked legacy key's connections on "/" keep being closed (longer with the broker auth cache).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReconciler } from '../src/broker/reconciler.js';
import { legacyCloseWindowMs } from '../src/store/reconcile.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';

const PEPPER = Buffer.from('reconciler-test-pepper');

class BrokerDouble {
  failing = false;
  deleted: string[] = [];
  closed: { vhost: string; user?: string }[] = [];
  async deprovisionVhost(vhost: string) {
    if (this.failing) throw new Error('management API unreachable');
    this.deleted.push(vhost);
    return { deleted: true };
  }
  async closeConnections(filter: { vhost: string; user?: string }) {
    if (this.failing) throw new Error('management API unreachable');
    this.closed.push(filter);
    return 0;
  }
  async listConnections() {
    return [];
  }
  async closeConnection() {
    return false;
  }
}

describe('reconciler', () => {
  let db: TestDatabase;
  let orgId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    orgId = await seedOrg(db.sql, 'recon');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('retries a failing vhost deletion on every pass and reports the backlog until it is done', async () => {
    const broker = new BrokerDouble();
    const errors: string[] = [];
    const r = startReconciler({ sql: db.sql, broker, intervalMs: 3_600_000, onError: (_e, id) => errors.push(id) });
    try {
      expect(r.backlog()).toBeUndefined();
      const revoked = await seedKey(db.sql, PEPPER, { orgId });
      const expired = await seedKey(db.sql, PEPPER, { orgId, expiresAt: new Date(Date.now() - 60_000) });
      const legacy = await seedKey(db.sql, PEPPER, { orgId, vhost: null, isActive: false });
      await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${revoked.id}`;
      const revokedAt = (await db.sql<{ t: Date }[]>`SELECT revoked_at AS t FROM api_keys WHERE id = ${revoked.id}`)[0]!.t;
      const expiresAt = (await db.sql<{ t: Date }[]>`SELECT expires_at AS t FROM api_keys WHERE id = ${expired.id}`)[0]!.t;

      broker.failing = true;
      expect(await r.runOnce()).toBe(0);
      expect(await r.runOnce()).toBe(0);
      expect(errors.filter((id) => id === revoked.id)).toHaveLength(2);
      // Legacy keys are not counted: "/" is never deleted.
      const oldest = new Date(Math.min(revokedAt.getTime(), expiresAt.getTime()));
      expect(r.backlog()).toEqual({ pending: 2, oldestSince: oldest });

      broker.failing = false;
      expect(await r.runOnce()).toBe(2);
      expect(broker.deleted.sort()).toEqual([revoked.vhost, expired.vhost].sort());
      expect(broker.closed).toContainEqual({ vhost: '/', user: 'recon' });
      expect(r.backlog()).toEqual({ pending: 0, oldestSince: null });
      const rows = await db.sql`SELECT id FROM api_keys WHERE deprovisioned_at IS NULL AND id IN ${db.sql([revoked.id, expired.id, legacy.id])}`;
      expect(rows).toHaveLength(0);
    } finally {
      await r.stop();
    }
  });

  it("keeps closing a revoked legacy key's connections for 10 s plus the broker auth cache TTL", async () => {
    expect(legacyCloseWindowMs(0)).toBe(10_000);
    expect(legacyCloseWindowMs(30_000)).toBe(40_000);
    for (const ttl of [0, 30_000]) {
      const broker = new BrokerDouble();
      const r = startReconciler({ sql: db.sql, broker, intervalMs: 3_600_000, authCacheTtlMs: ttl });
      try {
        const legacy = await seedKey(db.sql, PEPPER, { orgId, vhost: null, isActive: false });
        const dbNow = async () => (await db.sql<{ t: Date }[]>`SELECT clock_timestamp() AS t`)[0]!.t.getTime();
        const before = await dbNow();
        await r.runOnce();
        const after = await dbNow();
        const [row] = await db.sql<{ at: Date }[]>`SELECT deprovisioned_at AS at FROM api_keys WHERE id = ${legacy.id}`;
        // The pass stamped "closed until now + window" with the database's clock, between the two reads.
        expect(row!.at.getTime()).toBeGreaterThanOrEqual(before + legacyCloseWindowMs(ttl));
        expect(row!.at.getTime()).toBeLessThanOrEqual(after + legacyCloseWindowMs(ttl));
        // Still due on the next pass: closed again.
        const closedBefore = broker.closed.length;
        await r.runOnce();
        expect(broker.closed.length).toBeGreaterThan(closedBefore);
      } finally {
        await r.stop();
        await db.sql`UPDATE api_keys SET deprovisioned_at = now() WHERE vhost IS NULL`;
      }
    }
  });
});
