// `npm run bench:rest`: requests/s through nginx with voke-auth's forward auth (the shipped
// deploy/nginx/voke-auth-forward.conf in front of the real service) against the same nginx
// configuration whose auth_request goes to an allow-everything stub answering 200, in one run,
// side by side. Two stubs: a bare node:http server (bench/baseline-server.ts) and a bare
// node:net one that answers every request head without parsing it (bench/rest-stub.ts, the
// strictest yardstick). Both answer the X-Voke-* identity headers voke-auth answers for the bench
// key (asked once before the run), so that nginx and the upstream do the same work whichever
// auth server answers. The standard: ≥ 0.9 of the stub's requests/s.
//
// Processes: the service (bench/service-server.ts, PostgreSQL included), the two stubs, the REST
// API stand-in (bench/baseline-server.ts: 200 to everything), three nginx (one worker each, the
// same rendered file but for the auth address); this process only generates load (autocannon,
// keep-alive, GET /v1/things with X-API-Key). Each run is preceded by a discarded warm-up; the
// order rotates every round; a ratio is the median over the rounds of (voke-auth req/s ÷ stub
// req/s of the same round). Exits non-zero on any non-2xx or error.
//
// Environment:
//   BENCH_SECONDS=3          measured seconds per run (plus BENCH_WARMUP_SECONDS=0.5, discarded)
//   BENCH_ROUNDS=6
//   BENCH_CONNECTIONS=20     client connections to nginx
//   DATABASE_URL             PostgreSQL server for the service (else embedded)

import { availableParallelism, cpus, loadavg } from 'node:os';
import autocannon from 'autocannon';
import { findGateway, freePort, type RunningGateway, startGateway } from '../test/support/gateways.js';
import { type Child, startChild, stopChild } from './children.js';
import { envNumber } from './env.js';

const SECONDS = envNumber('BENCH_SECONDS', 3);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 0.5);
const ROUNDS = Math.floor(envNumber('BENCH_ROUNDS', 6));
const CONNECTIONS = Math.floor(envNumber('BENCH_CONNECTIONS', 20));
/** A route of the shipped configuration: any key with vcp:read. */
const PATH = '/v1/things';

type Target = 'voke' | 'http' | 'net';
const LABELS: Record<Target, string> = {
  voke: 'voke-auth /auth/rest',
  http: 'allow-everything stub, bare node:http',
  net: 'allow-everything stub, bare node:net',
};

interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  bad: number;
}

function cannon(url: string, key: string, seconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url: url + PATH, connections: CONNECTIONS, pipelining: 1, duration: seconds, timeout: 10, headers: { 'x-api-key': key } }, (err, result) =>
      err ? reject(err) : resolve(result),
    );
  });
}

async function measure(url: string, key: string): Promise<Measurement> {
  await cannon(url, key, WARMUP_SECONDS);
  const r = await cannon(url, key, SECONDS);
  return { rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, bad: r.non2xx + r.errors + r.timeouts };
}

/** The X-Voke-* header lines voke-auth answers for `key` at /auth/rest (asked directly, as the gateway would). */
async function identityHeaders(port: number, key: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/auth/rest`, { headers: { 'x-api-key': key, 'x-voke-required-scopes': 'vcp:read' } });
  if (res.status !== 200) throw new Error(`voke-auth /auth/rest answered ${res.status} for the bench key`);
  const lines = [...res.headers].filter(([name]) => name.startsWith('x-voke-')).map(([name, value]) => `${name}: ${value}\r\n`);
  if (lines.length === 0) throw new Error('voke-auth /auth/rest answered no X-Voke-* identity headers');
  return lines.join('');
}

/** One request through the gateway: the upstream must answer (200 "allow"). */
async function check(url: string, key: string, label: string): Promise<void> {
  const res = await fetch(url + PATH, { headers: { 'x-api-key': key } });
  const body = await res.text();
  if (res.status !== 200 || body !== 'allow') throw new Error(`${label}: expected 200 "allow" from the upstream, got ${res.status} ${body}`);
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<number> {
  if (findGateway('nginx') === undefined) throw new Error('nginx is not installed (apt-get install -y nginx)');
  console.log(`voke-auth bench:rest — ${new Date().toISOString()}`);
  console.log(
    `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `GET ${PATH} with X-API-Key through nginx (1 worker), ${CONNECTIONS} connections, ${SECONDS} s per run after ${WARMUP_SECONDS} s warm-up, ${ROUNDS} rounds (order alternating)`,
  );

  const children: Child[] = [];
  const gateways: RunningGateway[] = [];
  try {
    process.stderr.write('starting the service (PostgreSQL), two stubs, the upstream and three nginx…\n');
    const [service, api] = await Promise.all([startChild('service', 'service-server.ts'), startChild('upstream', 'baseline-server.ts')]);
    children.push(service, api);
    const key = service.info.password as string;
    // The stubs answer the identity voke-auth answers for this key, byte for byte: behind either
    // auth server nginx copies the same X-Voke-* headers and the upstream parses them.
    const identity = await identityHeaders(Number(service.info.port), key);
    const [httpStub, netStub] = await Promise.all([
      startChild('node:http stub', 'baseline-server.ts', { env: { BENCH_IDENTITY_HEADERS: identity } }),
      startChild('node:net stub', 'rest-stub.ts', { env: { BENCH_IDENTITY_HEADERS: identity } }),
    ]);
    children.push(httpStub, netStub);
    const upstream = `127.0.0.1:${api.info.port as number}`;
    const targets: Record<Target, RunningGateway> = {} as Record<Target, RunningGateway>;
    for (const [target, child] of [
      ['voke', service],
      ['http', httpStub],
      ['net', netStub],
    ] as const) {
      // nginx closes a client connection after keepalive_requests (1,000) answers; autocannon
      // then sometimes sends its next request into the closing socket and counts an ECONNRESET,
      // whatever answers auth_request. Raised so that every error seen is about the auth path.
      const gateway = await startGateway(
        'nginx',
        { auth: `127.0.0.1:${child.info.port as number}`, upstream, port: await freePort() },
        { httpDirectives: ['keepalive_requests 1000000;'] },
      );
      gateways.push(gateway);
      targets[target] = gateway;
      await check(gateway.url, key, `nginx + ${LABELS[target]}`);
    }
    const withVoke = targets.voke;
    // The refusal path works too (a wrong key is stopped at the gateway).
    const refused = await fetch(withVoke.url + PATH, { headers: { 'x-api-key': 'not-a-key' } });
    if (refused.status !== 401) throw new Error(`nginx + voke-auth: a wrong key answered ${refused.status}, not 401`);

    const results: Record<Target, Measurement[]> = { voke: [], http: [], net: [] };
    const order: Target[] = ['net', 'http', 'voke'];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < order.length; i++) {
        const target = order[(i + round) % order.length]!;
        const m = await measure(targets[target].url, key);
        results[target].push(m);
        process.stderr.write(`  round ${round + 1} ${target.padEnd(4)} ${fmt(m.rps).padStart(6)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms\n`);
      }
    }
    const ratios = (stub: Target) => results.voke.map((m, i) => m.rps / results[stub][i]!.rps);
    const bad = Object.values(results)
      .flat()
      .reduce((n, m) => n + m.bad, 0);
    console.log('');
    console.log('| auth_request to | req/s (median) | p50 ms | p99 ms | voke-auth ÷ this (median of rounds) | per round | bad |');
    console.log('|---|---:|---:|---:|---:|---|---:|');
    for (const target of ['net', 'http', 'voke'] as const) {
      const ms = results[target];
      const r = target === 'voke' ? undefined : ratios(target);
      console.log(
        `| ${LABELS[target]} | ${fmt(median(ms.map((m) => m.rps)))} | ${median(ms.map((m) => m.p50))} | ${median(ms.map((m) => m.p99))} | ${r ? fmt(median(r), 2) : ''} | ${r ? r.map((x) => fmt(x, 2)).join(' ') : ''} | ${ms.reduce((n, m) => n + m.bad, 0)} |`,
      );
    }
    console.log('');
    console.log(`ratio voke-auth ÷ node:net stub: ${fmt(median(ratios('net')), 2)}; ÷ node:http stub: ${fmt(median(ratios('http')), 2)} (standard ≥ 0.9)`);
    console.log('bad = non-2xx answers + socket errors + timeouts seen by the load generator.');
    if (bad > 0) console.log(`ERROR: ${bad} bad answers: these figures do not only measure the allow path.`);
    return bad === 0 ? 0 : 1;
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all(children.map(stopChild));
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:rest failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
