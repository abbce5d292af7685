// `npm run bench:queue-types`: classic vs quorum partner queues (BROKER_QUEUE_TYPE), on one node
// and on a three-node cluster of the same version, started as the tests start them
// (test/support/broker.ts). Per topology, vhosts are provisioned the way a mint does
// (createBrokerAdmin.provisionKeyVhost) and the internal service user publishes to the event
// exchange, so the auth backend plays no part. Rounds interleave the two types (order alternating).
//   provision   ms to provision one partner vhost (6 queues, bindings, policy, permissions)
//   delete      ms to delete it again
//   publish     persistent 1 KiB messages/s with publisher confirms, 1 channel, 100 in flight
//   latency     one publish + its confirm at a time: median and p99 ms
//   consume     messages/s drained by one consumer (prefetch 100, acks), from the publish backlog
// Environment: BENCH_BROKER_VERSIONS=4.3 (default: the newest line) BENCH_ROUNDS=3 BENCH_SECONDS=3
//   BENCH_TOPOLOGIES=single,cluster
import amqp, { type ChannelModel } from 'amqplib';
import { createBrokerAdmin } from '../src/broker/management.js';
import type { QueueType } from '../src/broker/topology.js';
import { type BrokerVersion, brokerVersions, startBroker, startCluster } from '../test/support/broker.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const VERSIONS = (process.env.BENCH_BROKER_VERSIONS ?? brokerVersions().at(-1)!).split(',') as BrokerVersion[];
const TOPOLOGIES = (process.env.BENCH_TOPOLOGIES ?? 'single,cluster').split(',');
const TYPES: QueueType[] = ['classic', 'quorum'];
const BODY = Buffer.alloc(1024, 'x');
const SLUG = 'bench';
const QUEUE = `vcp.${SLUG}.event.telemetry`;
const ROUTING_KEY = `${SLUG}.event.telemetry.realtime.site-1`;

interface Target {
  managementUrls: readonly string[];
  amqpUrl: string;
  serviceUser: string;
  servicePassword: string;
  stop(): Promise<void>;
}

type Sample = { provisionMs: number; deleteMs: number; publishPerSec: number; latencyP50: number; latencyP99: number; consumePerSec: number };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function connect(t: Target, vhost: string): Promise<ChannelModel> {
  const u = new URL(t.amqpUrl);
  const c = await amqp.connect(`amqp://${encodeURIComponent(t.serviceUser)}:${encodeURIComponent(t.servicePassword)}@${u.host}/${encodeURIComponent(vhost)}`, {
    noDelay: true,
  });
  c.on('error', () => {});
  return c;
}

async function runOne(t: Target, type: QueueType, round: number): Promise<Sample> {
  const admin = createBrokerAdmin({ managementUrl: t.managementUrls, serviceUser: t.serviceUser, queueType: type, timeoutMs: 60_000 });
  const vhost = `bench-${type}-${round}-${Date.now()}`;
  let t0 = performance.now();
  await admin.provisionKeyVhost({ vhost, slug: SLUG });
  const provisionMs = performance.now() - t0;

  // The service user may read partner-to-broker queues only; the bench drains the event queue as the admin user.
  const conn = await connect(t, vhost);
  const ch = await conn.createConfirmChannel();
  // publish: 100 in flight
  let sent = 0;
  const deadline = performance.now() + SECONDS * 1000;
  t0 = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) ch.publish('vcp', ROUTING_KEY, BODY, { persistent: true });
    await ch.waitForConfirms();
    sent += 100;
  }
  const publishPerSec = sent / ((performance.now() - t0) / 1000);
  // latency: one at a time
  const lat: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    ch.publish('vcp', ROUTING_KEY, BODY, { persistent: true });
    await ch.waitForConfirms();
    lat.push(performance.now() - s);
  }
  await conn.close();

  // consume: the backlog just published, as the admin user (permissions on every vhost).
  const adminUrl = new URL(t.managementUrls[0]!);
  const u = new URL(t.amqpUrl);
  const reader = await amqp.connect(`amqp://${adminUrl.username}:${adminUrl.password}@${u.host}/${encodeURIComponent(vhost)}`, { noDelay: true });
  reader.on('error', () => {});
  const rch = await reader.createChannel();
  await rch.prefetch(100);
  const total = sent + lat.length;
  let got = 0;
  t0 = performance.now();
  await new Promise<void>((resolve) => {
    void rch.consume(QUEUE, (m) => {
      if (!m) return;
      rch.ack(m);
      if (++got >= total) resolve();
    });
  });
  const consumePerSec = got / ((performance.now() - t0) / 1000);
  await reader.close();

  t0 = performance.now();
  await admin.deprovisionVhost(vhost);
  const deleteMs = performance.now() - t0;
  return { provisionMs, deleteMs, publishPerSec, latencyP50: median(lat), latencyP99: pct(lat, 0.99), consumePerSec };
}

async function startTarget(version: BrokerVersion, topology: string): Promise<Target> {
  const noAuth = 'http://127.0.0.1:9'; // the internal users only: no auth backend needed
  if (topology === 'single') {
    const b = await startBroker({ authBaseUrl: noAuth, version });
    return { managementUrls: [b.managementUrl], amqpUrl: b.amqpUrl, serviceUser: b.serviceUser, servicePassword: b.servicePassword, stop: () => b.stop() };
  }
  const c = await startCluster({ nodes: 3, version, authBaseUrls: [noAuth], startTimeoutMs: 120_000 });
  return { managementUrls: c.managementUrls, amqpUrl: c.amqpUrls[0]!, serviceUser: c.serviceUser, servicePassword: c.servicePassword, stop: () => c.stop() };
}

const fmt = (n: number, d = 0) => n.toFixed(d);
console.log(
  `rounds=${ROUNDS} seconds=${SECONDS} load=${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
for (const version of VERSIONS) {
  for (const topology of TOPOLOGIES) {
    const t = await startTarget(version, topology);
    try {
      await runOne(t, 'classic', -1); // warm-up, discarded
      const samples: Record<QueueType, Sample[]> = { classic: [], quorum: [] };
      for (let r = 0; r < ROUNDS; r++) {
        for (const type of r % 2 === 0 ? TYPES : [...TYPES].reverse()) {
          const s = await runOne(t, type, r);
          samples[type].push(s);
          console.log(
            `${version} ${topology} round ${r} ${type}: provision ${fmt(s.provisionMs)} ms, delete ${fmt(s.deleteMs)} ms, publish ${fmt(s.publishPerSec)}/s, latency p50 ${fmt(s.latencyP50, 2)} p99 ${fmt(s.latencyP99, 2)} ms, consume ${fmt(s.consumePerSec)}/s`,
          );
        }
      }
      const m = (type: QueueType, k: keyof Sample) => median(samples[type].map((s) => s[k]));
      console.log(`\n${version} ${topology}: median of ${ROUNDS} rounds (quorum / classic)`);
      console.log('| | classic | quorum | ratio |\n|---|---:|---:|---:|');
      for (const [k, label, d] of [
        ['provisionMs', 'provision ms', 0],
        ['deleteMs', 'delete ms', 0],
        ['publishPerSec', 'publish msg/s (confirms, 100 in flight)', 0],
        ['latencyP50', 'publish+confirm p50 ms', 2],
        ['latencyP99', 'publish+confirm p99 ms', 2],
        ['consumePerSec', 'consume msg/s', 0],
      ] as const) {
        console.log(`| ${label} | ${fmt(m('classic', k), d)} | ${fmt(m('quorum', k), d)} | ${(m('quorum', k) / m('classic', k)).toFixed(2)} |`);
      }
      console.log('');
    } finally {
      await t.stop();
    }
  }
}
