// The rotation close-out as the reconciler runs it, on real PostgreSQL with a recording broker
// double: due at the overlap's end (also when ops end the overlap in SQL), pairs connections with
// recorded checks, shared by two reconcilers without closing twice, finished for a revoked key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerConnection } from '../src/broker/management.js';
import { startReconciler } from '../src/broker/reconciler.js';
import { displayPrefix, generateApiKey } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hash.js';
import { rotateApiKey } from '../src/store/rotation.js';
import { insertSecretUses } from '../src/store/secret-uses.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { TEST_PEPPER } from './support/service.js';

const pepper = Buffer.from(TEST_PEPPER);
let db: TestDatabase;
let org: string;

beforeAll(async () => {
  db = await createTestDatabase();
  org = await seedOrg(db.sql, 'rco');
});
afterAll(async () => {
  await db?.drop();
});

class Broker {
  connections = new Map<string, BrokerConnection[]>();
  closed: string[] = [];
  async deprovisionVhost() {
    return { deleted: true };
  }
  async closeConnections() {
    return 0;
  }
  async listConnections(vhost: string) {
    return [...(this.connections.get(vhost) ?? [])];
  }
  async closeConnection(name: string) {
    for (const [vhost, list] of this.connections) {
      const i = list.findIndex((c) => c.name === name);
      if (i >= 0) {
        list.splice(i, 1);
        this.connections.set(vhost, list);
        this.closed.push(name);
        return true;
      }
    }
    return false;
  }
}

async function rotate(id: string, overlapSeconds: number): Promise<void> {
  const key = generateApiKey();
  await db.sql.begin((tx) =>
    rotateApiKey(tx, org, id, { keyHash: new KeyHasher([pepper]).current(key), keyPrefix: displayPrefix(key) }, overlapSeconds, 2_000),
  );
}

/** Moves the key's rotation a minute into the past (connections and checks are placed after it). */
async function rotatedAMinuteAgo(id: string): Promise<number> {
  const [r] = await db.sql<{ t: Date }[]>`
    UPDATE api_key_closeouts SET generation_created_at = now() - interval '60 seconds' WHERE api_key_id = ${id}
    RETURNING generation_created_at AS t`;
  return r!.t.getTime();
}

describe('rotation close-out in the reconciler', () => {
  it('comes due when ops end the overlap in SQL, closes the old-secret connections, keeps the paired new one, and finishes', async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    await rotate(k.id, 3600);
    const R = await rotatedAMinuteAgo(k.id);
    const broker = new Broker();
    broker.connections.set(k.vhost, [
      { name: 'before', user: 'rco', peerHost: '10.0.0.1', connectedAt: R - 30_000 },
      { name: 'fresh', user: 'rco', peerHost: '::ffff:10.0.0.1', connectedAt: R + 10_000 },
      { name: 'old-same-address', user: 'rco', peerHost: '10.0.0.1', connectedAt: R + 20_000 },
      { name: 'old-elsewhere', user: 'rco', peerHost: '10.0.0.2', connectedAt: R + 10_000 },
    ]);
    await insertSecretUses(db.sql, [
      { keyId: k.id, use: { generation: 1, ip: '10.0.0.1', at: R + 10_040 } },
      { keyId: k.id, use: { generation: 0, ip: '10.0.0.1', at: R + 20_040 } },
      { keyId: k.id, use: { generation: 0, ip: '10.0.0.2', at: R + 10_040 } },
    ]);
    const r = startReconciler({ sql: db.sql, broker, intervalMs: 3_600_000 });
    try {
      await r.runOnce();
      expect(broker.closed).toEqual([]); // the overlap lasts an hour: nothing due
      await db.sql`UPDATE api_keys SET previous_key_expires_at = now() WHERE id = ${k.id}`;
      await r.runOnce();
      expect(broker.closed.sort()).toEqual(['before', 'old-elsewhere', 'old-same-address']);
      // Later passes still pair with the closed connections they saw: fresh stays.
      await r.runOnce();
      expect(broker.connections.get(k.vhost)!.map((c) => c.name)).toEqual(['fresh']);
      const [row] = await db.sql<{ closed: number; doneAt: Date | null; seen: unknown[] }[]>`
        SELECT closed, done_at, seen_connections AS seen FROM api_key_closeouts WHERE api_key_id = ${k.id}`;
      expect(row!.closed).toBe(3);
      expect(row!.seen).toHaveLength(4);
      expect(row!.doneAt).toBeNull();
      await new Promise((res) => setTimeout(res, 2_100)); // the close-out window (2 s here) ends
      await r.runOnce();
      const [done] = await db.sql<{ doneAt: Date | null }[]>`SELECT done_at FROM api_key_closeouts WHERE api_key_id = ${k.id}`;
      expect(done!.doneAt).not.toBeNull();
      expect(broker.connections.get(k.vhost)!.map((c) => c.name)).toEqual(['fresh']);
    } finally {
      await r.stop();
    }
  });

  it('two reconcilers share the due close-outs: each connection is closed once', async () => {
    const broker = new Broker();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const k = await seedKey(db.sql, pepper, { orgId: org });
      await rotate(k.id, 0);
      const R = await rotatedAMinuteAgo(k.id);
      broker.connections.set(k.vhost, [{ name: `old-${i}`, user: 'rco', peerHost: '10.0.0.9', connectedAt: R - 1_000 }]);
      ids.push(k.id);
    }
    let calls = 0;
    // A slow listing: without the row locks both would list the same connections and close each twice.
    const counting = {
      ...broker,
      listConnections: async (v: string) => {
        await new Promise((res) => setTimeout(res, 100));
        return broker.listConnections(v);
      },
      closeConnection: async (n: string) => {
        calls++;
        return broker.closeConnection(n);
      },
      deprovisionVhost: broker.deprovisionVhost,
      closeConnections: broker.closeConnections,
    };
    const a = startReconciler({ sql: db.sql, broker: counting, intervalMs: 3_600_000 });
    const b = startReconciler({ sql: db.sql, broker: counting, intervalMs: 3_600_000 });
    try {
      await Promise.all([a.runOnce(), b.runOnce()]);
      expect(broker.closed.filter((n) => n.startsWith('old-')).sort()).toEqual(['old-0', 'old-1', 'old-2', 'old-3', 'old-4', 'old-5']);
      expect(calls).toBe(6);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("a revoked key's close-out is finished without a broker call (its vhost deletion closes everything)", async () => {
    const k = await seedKey(db.sql, pepper, { orgId: org });
    await rotate(k.id, 0);
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${k.id}`;
    const broker = new Broker();
    broker.connections.set(k.vhost, [{ name: 'x', user: 'rco', peerHost: '10.0.0.1', connectedAt: 0 }]);
    const r = startReconciler({ sql: db.sql, broker, intervalMs: 3_600_000 });
    try {
      await r.runOnce();
      const [row] = await db.sql<{ doneAt: Date | null }[]>`SELECT done_at FROM api_key_closeouts WHERE api_key_id = ${k.id}`;
      expect(row!.doneAt).not.toBeNull();
      expect(broker.closed).toEqual([]);
    } finally {
      await r.stop();
    }
  });
});
