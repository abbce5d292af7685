// A three-node RabbitMQ cluster the test starts itself, two voke-auth instances on one database
// (nodes 1–2 ask instance A, node 3 asks B), both given every node's management and AMQP URL,
// partner queues of type quorum. Partners connect through every node; a revoke closes their
// connections everywhere; with a node stopped, partners reconnect through another node (a client
// given several hosts), their backlog and what was published meanwhile arrive (publisher
// confirms on), mint, revoke and allowlist narrowing work, /readyz and /metrics say what is down;
// the node back, the cluster heals.
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type AuthRelay,
  type BrokerVersion,
  brokerAvailable,
  brokerVersions,
  installedVersion,
  type StartedCluster,
  startAuthRelay,
  startCluster,
} from './support/broker.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { adminCaller, metricSum, startTestService } from './support/service.js';

type Service = Awaited<ReturnType<typeof startTestService>>;

/**
 * The lines the cluster suite runs on: RABBITMQ_CLUSTER_VERSIONS, else the newest line of this
 * run and 3.10 when the run covers it (4.0 is covered by the single-node suites).
 */
function clusterVersions(): BrokerVersion[] {
  const run = brokerVersions();
  const wanted = (process.env.RABBITMQ_CLUSTER_VERSIONS ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (wanted.length) return run.filter((v) => wanted.includes(v));
  return [...new Set([run.at(-1)!, ...run.filter((v) => v === '3.10')])];
}

const { describe } = await import('vitest');
for (const version of clusterVersions()) {
  const avail = await brokerAvailable(version);
  const title = `RabbitMQ cluster end to end [3 nodes, RabbitMQ ${installedVersion(version) ?? version}]`;
  if (!avail.ok || avail.mode !== 'local') {
    const reason = avail.ok ? 'clusters are started from local installs only' : avail.reason;
    if (['1', 'true', 'yes'].includes((process.env.E2E_REQUIRED ?? '').toLowerCase())) {
      describe(title, () =>
        it('needs local RabbitMQ nodes (E2E_REQUIRED=1)', () => {
          throw new Error(reason);
        }),
      );
    } else {
      describe.skip(`${title} [skipped: ${reason}]`, () => {});
    }
    continue;
  }
  describe(title, () => clusterSuite(version));
}

function clusterSuite(version: BrokerVersion): void {
  let db: TestDatabase;
  let relays: AuthRelay[] = [];
  let cluster: StartedCluster;
  let a: Service;
  let b: Service;
  let orgId: string;
  const open: ChannelModel[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    relays = [await startAuthRelay(), await startAuthRelay()];
    const [relayA, relayB] = relays as [AuthRelay, AuthRelay];
    cluster = await startCluster({ nodes: 3, version, authBaseUrls: [relayA.url, relayA.url, relayB.url], startTimeoutMs: 120_000 });
    const env = (order: number[]) => ({
      RABBITMQ_MANAGEMENT_URL: order.map((i) => cluster.managementUrls[i]).join(','),
      RABBITMQ_AMQP_URL: order.map((i) => cluster.amqpUrls[i]).join(','),
      BROKER_QUEUE_TYPE: 'quorum',
    });
    // Each instance lists its own nodes first.
    a = await startTestService(db.url, { reconcileIntervalMs: 250, brokerCheckIntervalMs: 1000, env: env([0, 1, 2]) });
    b = await startTestService(db.url, { reconcileIntervalMs: 250, brokerCheckIntervalMs: 1000, env: env([2, 0, 1]) });
    relayA.target(a.authUrl);
    relayB.target(b.authUrl);
    const org = await adminCaller(a.adminUrl)('POST', '/api/v1/admin/organizations', { slug: 'acme', name: 'ACME' });
    expect(org.status, JSON.stringify(org.json)).toBe(201);
    orgId = org.json.id;
  }, 300_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await a?.stop();
    await b?.stop();
    await cluster?.stop();
    for (const r of relays) await r.close();
    await db?.drop();
  }, 120_000);

  const adminA = (...args: Parameters<ReturnType<typeof adminCaller>>) => adminCaller(a.adminUrl)(...args);
  const adminB = (...args: Parameters<ReturnType<typeof adminCaller>>) => adminCaller(b.adminUrl)(...args);

  async function mint(via: typeof adminA, extra: Record<string, unknown> = {}) {
    const r = await via(
      'POST',
      '/api/v1/partner/api-keys',
      { name: 'cluster', partnerId: 'cluster', scopes: ['vcp:connect', 'vcp:write:setpoint'], ...extra },
      orgId,
    );
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.connection.selfTest).toMatchObject({ status: 'passed', queueType: 'quorum' });
    return { key: r.json.key as string, id: r.json.apiKey.id as string, vhost: r.json.apiKey.vhost as string };
  }

  function urlFor(base: string, user: string, password: string, vhost: string): string {
    const u = new URL(base);
    return `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${u.host}/${encodeURIComponent(vhost)}`;
  }

  /** amqplib takes one host: a client given several tries them in turn (what partners are told to do). */
  async function connectAny(bases: readonly string[], user: string, password: string, vhost: string): Promise<{ conn: ChannelModel; node: number }> {
    let last: unknown;
    for (const [node, base] of bases.entries()) {
      try {
        const conn = await amqp.connect(urlFor(base, user, password, vhost), { noDelay: true, timeout: 3000 });
        conn.on('error', () => {});
        open.push(conn);
        return { conn, node };
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }
  const connectTo = async (node: number, user: string, password: string, vhost: string) =>
    (await connectAny([cluster.amqpUrls[node]!], user, password, vhost)).conn;
  const asService = (node: number, vhost: string) => connectTo(node, cluster.serviceUser, cluster.servicePassword, vhost);

  function closed(c: ChannelModel): Promise<void> {
    return new Promise((resolve) => c.once('close', () => resolve()));
  }

  /** Publishes `ids` as JSON bodies with publisher confirms; resolves when the broker confirmed them all. */
  async function publishConfirmed(c: ChannelModel, routingKey: string, ids: readonly number[]): Promise<void> {
    const ch: ConfirmChannel = await c.createConfirmChannel();
    for (const id of ids) ch.publish('vcp', routingKey, Buffer.from(JSON.stringify({ id })), { persistent: true });
    await ch.waitForConfirms();
    await ch.close();
  }

  async function management(node: number, path: string): Promise<{ status: number; json: any }> {
    const u = new URL(cluster.managementUrls[node]!);
    const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    const res = await fetch(`http://${u.host}${path}`, { headers: { authorization: auth }, signal: AbortSignal.timeout(30_000) });
    return { status: res.status, json: await res.json().catch(() => undefined) };
  }

  const readyz = async (s: Service) => (await fetch(`${s.adminUrl}/readyz`)).json() as Promise<any>;
  const pending = async (s: Service) => (await readyz(s)).brokerDeprovisioning?.pending;

  it('provisions quorum queues with members on every node; partners log in and exchange messages through every node', async () => {
    const k = await mint(adminA);
    // The detail view says the type, through either instance.
    expect((await adminB('GET', `/api/v1/partner/api-keys/${k.id}`, undefined, orgId)).json.connection.queueType).toBe('quorum');
    const queues = await management(2, `/api/queues/${encodeURIComponent(k.vhost)}?columns=name,type,members,effective_policy_definition`);
    expect(queues.json).toHaveLength(6);
    for (const q of queues.json) {
      expect(q.type, q.name).toBe('quorum');
      expect([...q.members].sort(), q.name).toEqual(cluster.nodes.map((n) => n.nodeName).sort());
    }
    // The quorum variant of the event-queue limits applies (no queue-mode).
    const policyOf = async () => (await management(1, `/api/queues/${encodeURIComponent(k.vhost)}/vcp.acme.event.telemetry`)).json?.effective_policy_definition;
    await expect
      .poll(policyOf, { timeout: 10_000 })
      .toEqual({ 'max-length': 100_000, 'max-length-bytes': 64 * 1024 * 1024, overflow: 'drop-head', 'message-ttl': 86_400_000 });

    const svc = await asService(0, k.vhost);
    for (const node of [0, 1, 2]) {
      const partner = await connectTo(node, 'acme', k.key, k.vhost);
      const ch = await partner.createChannel();
      await publishConfirmed(svc, `acme.event.alarm.n${node}`, [node]);
      const got = await nextMessage(ch, 'vcp.acme.event.alarm');
      expect(got?.routingKey, `node ${node}`).toBe(`acme.event.alarm.n${node}`);
      // And partner → service: a setpoint command published on this node reaches the service on node 1.
      await publishConfirmed(partner, 'acme.command.site-setpoint', [100 + node]);
      const cmd = await nextMessage(await svc.createChannel(), 'vcp.acme.command');
      expect(cmd?.id).toBe(100 + node);
    }
  }, 120_000);

  it("a revoke through either instance closes the key's connections on all three nodes and every node refuses the key", async () => {
    const k = await mint(adminB);
    const conns = await Promise.all([0, 1, 2].map((n) => connectTo(n, 'acme', k.key, k.vhost)));
    const allClosed = Promise.all(conns.map(closed));
    const t0 = Date.now();
    expect((await adminB('DELETE', `/api/v1/partner/api-keys/${k.id}`, undefined, orgId)).status).toBe(200);
    await allClosed;
    const closedMs = Date.now() - t0;
    expect(closedMs).toBeLessThan(10_000);
    for (const n of [0, 1, 2]) await expect(connectTo(n, 'acme', k.key, k.vhost), `node ${n}`).rejects.toThrow();
    await expect.poll(() => pending(a), { timeout: 10_000 }).toBe(0);
  }, 120_000);

  it('node 1 stopped: partners reconnect through another node and get their backlog and what was published meanwhile; mint, revoke and narrowing work; the node back, the cluster heals', async () => {
    const k = await mint(adminA);
    const queue = 'vcp.acme.event.telemetry';
    // Backlog while the partner is offline, published through node 2 with confirms.
    const svc2 = await asService(1, k.vhost);
    const backlog = Array.from({ length: 50 }, (_, i) => i);
    await publishConfirmed(svc2, 'acme.event.telemetry.realtime.site-1', backlog);

    // The partner connects to the first node of its list (node 1), takes 10 and acks them, then
    // holds 10 more unacknowledged (prefetch 10): those go back to the queue when node 1 stops.
    const received = new Set<number>();
    const first = await connectAny(cluster.amqpUrls, 'acme', k.key, k.vhost);
    expect(first.node).toBe(0);
    const ch1 = await first.conn.createChannel();
    await ch1.prefetch(10);
    let acked = 0;
    await ch1.consume(queue, (m) => {
      if (!m) return;
      received.add(JSON.parse(m.content.toString()).id);
      if (acked < 10) {
        acked++;
        ch1.ack(m);
      }
    });
    await expect.poll(() => received.size, { timeout: 15_000 }).toBeGreaterThanOrEqual(20);
    const ackedIds = new Set([...received].slice(0, 10));

    // A second key, connected through nodes 2 and 3, to be revoked while node 1 is down.
    const doomed = await mint(adminB);
    const doomedConns = [await connectTo(1, 'acme', doomed.key, doomed.vhost), await connectTo(2, 'acme', doomed.key, doomed.vhost)];
    // A third key, connected through node 3, whose allowlist is narrowed while node 1 is down.
    const narrowed = await mint(adminA);
    const narrowedConn = await connectTo(2, 'acme', narrowed.key, narrowed.vhost);

    const partnerLost = closed(first.conn);
    await cluster.stopNode(0);
    await partnerLost;

    // Published while node 1 is down, through node 3, confirmed.
    const svc3 = await asService(2, k.vhost);
    const meanwhile = Array.from({ length: 20 }, (_, i) => 1000 + i);
    await publishConfirmed(svc3, 'acme.event.telemetry.realtime.site-1', meanwhile);

    // The partner reconnects through the next node of its list and consumes everything.
    const second = await connectAny(cluster.amqpUrls, 'acme', k.key, k.vhost);
    expect(second.node).toBe(1);
    const ch2 = await second.conn.createChannel();
    const after = new Set<number>();
    await ch2.consume(queue, (m) => {
      if (!m) return;
      after.add(JSON.parse(m.content.toString()).id);
      ch2.ack(m);
    });
    const expected = [...backlog, ...meanwhile].filter((id) => !ackedIds.has(id)).sort((x, y) => x - y);
    await expect.poll(() => [...after].sort((x, y) => x - y), { timeout: 30_000 }).toEqual(expected);

    // Mint through instance A, whose lists start with the node that is down (self-test included).
    const minted = await mint(adminA);
    const viaNode3 = await connectTo(2, 'acme', minted.key, minted.vhost);
    expect(viaNode3).toBeDefined();
    // test-connection through A probes the next AMQP node too.
    const probed = await adminA('POST', `/api/v1/partner/api-keys/${minted.id}/test-connection`, { key: minted.key }, orgId);
    expect(probed.json).toMatchObject({ ok: true });

    // Revoke through A: the key's connections on nodes 2 and 3 close within the usual bound.
    const doomedClosed = Promise.all(doomedConns.map(closed));
    const t0 = Date.now();
    expect((await adminA('DELETE', `/api/v1/partner/api-keys/${doomed.id}`, undefined, orgId)).status).toBe(200);
    await doomedClosed;
    expect(Date.now() - t0).toBeLessThan(15_000);
    await expect(connectTo(1, 'acme', doomed.key, doomed.vhost)).rejects.toThrow();

    // Narrowing: the open connection from 127.0.0.1 is closed through a node that answers.
    const narrowedClosed = closed(narrowedConn);
    const patched = await adminA('PATCH', `/api/v1/partner/api-keys/${narrowed.id}`, { allowedIps: ['10.0.0.0/8'] }, orgId);
    expect(patched.status, JSON.stringify(patched.json)).toBe(200);
    await narrowedClosed;

    // What is down shows in /readyz and /metrics of both instances.
    for (const s of [a, b]) {
      // Checked every second; a live node may miss one check under load, so poll for the steady view.
      const view = async () => {
        const r = await readyz(s);
        return {
          status: r.status,
          membersDown: r.broker?.membersDown,
          unreachable: r.broker?.nodes.filter((n: any) => n.reachable === false).map((n: any) => n.endpoint),
        };
      };
      await expect
        .poll(view, { timeout: 20_000 })
        .toEqual({ status: 'ready', membersDown: [cluster.nodes[0]!.nodeName], unreachable: [new URL(cluster.managementUrls[0]!).host] });
      await expect.poll(() => metricSum(s, 'voke_auth_broker_nodes_unreachable'), { timeout: 20_000 }).toBe(1);
      expect(await metricSum(s, 'voke_auth_broker_cluster_members_down')).toBe(1);
    }
    expect(await metricSum(a, 'voke_auth_broker_failovers_total')).toBeGreaterThan(0);
    // Its connections are closed, but deleting the revoked key's vhost waits for the member.
    expect(await pending(a)).toBe(1);
    expect(await metricSum(b, 'voke_auth_broker_deprovision_pending')).toBe(1);

    // Node 1 back: the cluster heals, every node serves the partner again.
    await cluster.startNode(0);
    await expect.poll(async () => (await management(0, '/api/nodes?columns=name,running')).json?.every((n: any) => n.running), { timeout: 60_000 }).toBe(true);
    for (const s of [a, b]) {
      await expect.poll(async () => (await readyz(s)).broker?.membersDown, { timeout: 15_000 }).toEqual([]);
      await expect.poll(() => metricSum(s, 'voke_auth_broker_nodes_unreachable'), { timeout: 15_000 }).toBe(0);
      await expect.poll(() => pending(s), { timeout: 60_000 }).toBe(0);
    }
    await ch2.close();
    const back = await connectTo(0, 'acme', k.key, k.vhost);
    const svc1 = await asService(0, k.vhost);
    await publishConfirmed(svc1, 'acme.event.telemetry.realtime.site-1', [5000]);
    const chBack = await back.createChannel();
    expect((await nextMessage(chBack, queue, 15_000))?.id).toBe(5000);
    // The revoked key's vhost is gone on the returning node too.
    expect((await management(0, `/api/vhosts/${encodeURIComponent(doomed.vhost)}`)).status).toBe(404);
  }, 300_000);

  async function nextMessage(ch: Channel, queue: string, timeoutMs = 10_000): Promise<{ routingKey: string; id: number } | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = await ch.get(queue, { noAck: true });
      if (m) return { routingKey: m.fields.routingKey, id: JSON.parse(m.content.toString()).id };
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }
}
