// `npm run bench`: the auth hot path against a bare node:http server answering `allow` and a bare
// node:net one (bench/net-baseline-server.ts: the ceiling of a Node listener), measured side by
// side in the same run (the standard: ≥ 0.9 of the bare node:net server's requests/s for cached
// topic); and the auth listener over HTTPS (client certificate, keep-alive) against the same in
// plaintext. Speed is measured here, never asserted in tests; quote ratios, the machine is noisy.
//
// Each server is a child process; this process only generates load (autocannon, keep-alive
// connections like the broker's). Every run is preceded by a discarded warm-up, and the order of
// the runs is reversed on every other round to spread drift over both servers.
//
// Environment:
//   BENCH_SECONDS=2        measured seconds per run (plus BENCH_WARMUP_SECONDS=0.5, discarded)
//   BENCH_ROUNDS=6         rounds; odd rounds run in reverse order. Many short rounds and the
//                          median of their ratios: the machine's slow spells last seconds and
//                          would otherwise decide a whole round
//   BENCH_CONNECTIONS=5,50 connection counts; beyond the first, only the publish-path
//                          scenarios (topic, resource) are run unless BENCH_FULL=1
//   BENCH_SCENARIOS=topic,resource,user,vhost
//   BENCH_SERVICE_NODE_FLAGS='--max-semi-space-size=32'  node flags for the service child only
//   BENCH_CONTROL=1        (default) also run a second, identical bare server (the "control" row): its ratio
//                          to the first is this run's own noise (identical processes here differ
//                          by several %); BENCH_CONTROL=0 leaves it out
//   BENCH_TLS=1            (default) also run a second service speaking HTTPS (throwaway certificates,
//                          the broker's client certificate) on the topic scenario; BENCH_TLS=0 leaves it out
//   BENCH_CPU_PROF=1       run both servers under `node --cpu-prof` (bench/results/profiles/<server>/;
//                          the .0.001 file is the main thread, the other tsx's loader thread)
//   DATABASE_URL           PostgreSQL server for the service (a fresh database is created and dropped)
//
// Besides req/s, each server reports its own CPU time around every measured run (a `cpu` line on
// its stdin): "µs/req" is server CPU (user + system) per request, far less noisy than req/s when
// other work shares the machine. The figures also go to bench/results/latest.json (not committed).
//
// Exits non-zero on errors (a server that does not start, a wrong answer, non-2xx, socket errors),
// never on a low ratio.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { generateAuthTlsCerts } from '../test/support/broker.js';
import { type Child, startChild, stopChild } from './children.js';
import { envNumber } from './env.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(BENCH_DIR, 'results');

const SECONDS = envNumber('BENCH_SECONDS', 2);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 0.5);
const ROUNDS = Math.floor(envNumber('BENCH_ROUNDS', 6));
const CONNECTIONS = (process.env.BENCH_CONNECTIONS || '5,50').split(',').map((s) => Math.floor(Number(s.trim())));
const FULL = process.env.BENCH_FULL === '1';
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';
const CONTROL = process.env.BENCH_CONTROL !== '0';
const TLS = process.env.BENCH_TLS !== '0';
/** The client side of HTTPS to the TLS service: the broker's certificate (set once the files exist). */
let clientTls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
/** Extra node flags for the service child only (e.g. `--max-semi-space-size=32`), to try runtime settings. */
const SERVICE_NODE_FLAGS = (process.env.BENCH_SERVICE_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
/** Distinct routing keys per topic run: well above the 12 answers a broker channel caches. */
const DEVICES = 64;
type ScenarioName = 'topic' | 'resource' | 'user' | 'vhost';
const ALL_SCENARIOS: readonly ScenarioName[] = ['topic', 'resource', 'user', 'vhost'];
const PUBLISH_PATH: readonly ScenarioName[] = ['topic', 'resource'];
const SCENARIOS = (process.env.BENCH_SCENARIOS || ALL_SCENARIOS.join(',')).split(',').map((s) => s.trim() as ScenarioName);
for (const s of SCENARIOS) if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}" (known: ${ALL_SCENARIOS.join(', ')})`);
if (CONNECTIONS.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('BENCH_CONNECTIONS must be positive integers');

interface ServiceInfo {
  port: number;
  username: string;
  password: string;
  keyId: string;
  vhost: string;
}

interface Scenario {
  name: ScenarioName;
  path: string;
  bodies: string[];
  /** What the service must answer to every request of this scenario. */
  expect: string;
  note: string;
}

/** The broker's calls (docs/architecture.md, "What the broker sends"), form-encoded as rabbitmq_auth_backend_http sends them. */
function scenarios(s: ServiceInfo): Record<ScenarioName, Scenario> {
  const tags = `vcp-key-${s.keyId}`;
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  return {
    topic: {
      name: 'topic',
      path: '/auth/topic',
      bodies: Array.from({ length: DEVICES }, (_, n) =>
        form({
          username: s.username,
          vhost: s.vhost,
          resource: 'topic',
          name: 'vcp',
          permission: 'write',
          routing_key: `${s.username}.command.device.${n}`,
          tags,
          'variable_map.username': s.username,
          'variable_map.vhost': s.vhost,
        }),
      ),
      expect: 'allow',
      note: `publish check, ${DEVICES} distinct routing keys ${s.username}.command.device.<n> cycled (pre-built bodies: no per-request cost)`,
    },
    resource: {
      name: 'resource',
      path: '/auth/resource',
      bodies: [form({ username: s.username, vhost: s.vhost, resource: 'exchange', name: 'vcp', permission: 'write', tags })],
      expect: 'allow',
      note: 'exchange vcp write',
    },
    user: {
      name: 'user',
      path: '/auth/user',
      bodies: [form({ username: s.username, password: s.password })],
      expect: `allow ${tags}`,
      note: 'login with the real key, cache warm (HMAC of the password on every call)',
    },
    vhost: {
      name: 'vhost',
      path: '/auth/vhost',
      bodies: [form({ username: s.username, vhost: s.vhost, ip: '127.0.0.1', tags })],
      expect: 'allow',
      note: 'own vhost, no IP allowlist',
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes

// ---------------------------------------------------------------------------------------------
// Load

interface Measurement {
  rps: number;
  requests: number;
  /** Server process CPU (user + system: includes the kernel's TCP work) per request, µs. */
  serverCpuPerRequest: number;
  /** This process (the load generator) CPU, as a share of one core over the run. */
  loadgenCpu: number;
  p50: number;
  p99: number;
  non2xx: number;
  mismatches: number;
  errors: number;
  timeouts: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function cannon(
  port: number,
  scenario: Scenario,
  expect: string,
  connections: number,
  seconds: number,
  latencies?: number[],
  tls = false,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
        ...(tls ? { tlsOptions: clientTls, servername: 'localhost' } : {}),
        connections,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
        // (expectBody cannot be combined with `requests`; a mismatch counts the same.)
        verifyBody: (body) => body === expect,
        // Built once when the run starts (no setupRequest, no id replacement), then cycled.
        requests: scenario.bodies.map((body) => ({
          method: 'POST' as const,
          path: scenario.path,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        })),
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    // autocannon's own latency histogram has 1 ms resolution; keep the raw times (ms, float).
    if (latencies) instance.on('response', (_client, _status, _bytes, ms) => void latencies.push(ms));
  });
}

async function measure(server: Child, scenario: Scenario, expect: string, connections: number): Promise<Measurement> {
  const port = server.info.port as number;
  const tls = server.info.tls === true;
  await cannon(port, scenario, expect, connections, WARMUP_SECONDS, undefined, tls);
  const latencies: number[] = [];
  const serverBefore = await server.cpu();
  const ownBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const r = await cannon(port, scenario, expect, connections, SECONDS, latencies, tls);
  const wall = performance.now() - wallBefore;
  const own = process.cpuUsage(ownBefore);
  const serverCpu = (await server.cpu()) - serverBefore;
  const sorted = Float64Array.from(latencies).sort();
  const requests = r.requests.total;
  return {
    rps: requests / r.duration,
    requests,
    serverCpuPerRequest: serverCpu / requests,
    loadgenCpu: (own.user + own.system) / 1000 / wall,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    non2xx: r.non2xx,
    mismatches: r.mismatches,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

/** Before any load: every distinct request of the scenario gets exactly the expected answer. */
async function verify(port: number, scenario: Scenario, expect: string, label: string, tls = false): Promise<void> {
  for (const body of scenario.bodies) {
    const res = await post(port, scenario.path, body, tls);
    if (res.status !== 200 || res.text !== expect || res.type !== 'text/plain') {
      throw new Error(
        `${label} ${scenario.name}: expected 200 text/plain "${expect}", got ${res.status} ${res.type} "${res.text}" for ${scenario.path} ${body.replace(/password=[^&]*/, 'password=…')}`,
      );
    }
  }
}

/** One form POST, over HTTPS with the broker's client certificate when `tls`. */
function post(port: number, path: string, body: string, tls: boolean): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const options = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      ...(tls ? { ...clientTls, servername: 'localhost' } : {}),
    };
    const req = (tls ? httpsRequest : httpRequest)(`${tls ? 'https' : 'http'}://127.0.0.1:${port}${path}`, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = new Date();
  const cpu = cpus()[0]?.model ?? 'unknown';
  console.log(`voke-auth bench — ${started.toISOString()}`);
  console.log(`node ${process.version}, ${availableParallelism()} CPUs (${cpu}), ${process.platform}/${process.arch}`);
  console.log(`${SECONDS} s per run after ${WARMUP_SECONDS} s warm-up (discarded), ${ROUNDS} rounds (order reversed on odd rounds), keep-alive, pipelining 1`);

  const children: Child[] = [];
  let tlsDir: string | undefined;
  const cleanup = async () => {
    await Promise.all(children.map(stopChild));
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    process.stderr.write('starting servers (the service starts PostgreSQL; the first run may take a while)…\n');
    const profDir = join(RESULTS_DIR, 'profiles');
    if (CPU_PROF) mkdirSync(profDir, { recursive: true });
    const prof = (name: string) => (CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(profDir, name)] : []);
    if (TLS) {
      tlsDir = mkdtempSync(join(tmpdir(), 'voke-bench-tls-'));
      generateAuthTlsCerts(tlsDir);
      const pem = (n: string) => readFileSync(join(tlsDir!, n));
      clientTls = { ca: pem('ca.pem'), cert: pem('broker.pem'), key: pem('broker-key.pem') };
    }
    const adopt = (c: Child) => {
      children.push(c);
      return c;
    };
    const [baseline, net, service, serviceTls, control] = await Promise.all([
      startChild('baseline', 'baseline-server.ts', { nodeArgs: prof('baseline') }).then(adopt),
      startChild('net', 'net-baseline-server.ts', { nodeArgs: prof('net') }).then(adopt),
      startChild('service', 'service-server.ts', { nodeArgs: [...SERVICE_NODE_FLAGS, ...prof('service')] }).then(adopt),
      tlsDir
        ? startChild('service-tls', 'service-server.ts', { nodeArgs: [...SERVICE_NODE_FLAGS, ...prof('service-tls')], env: { BENCH_TLS_DIR: tlsDir } }).then(
            (c) => {
              c.info.tls = true;
              children.push(c);
              return c;
            },
          )
        : undefined,
      CONTROL ? startChild('control', 'baseline-server.ts', { nodeArgs: prof('control') }).then(adopt) : undefined,
    ]);
    const info = service.info as unknown as ServiceInfo;
    const all = scenarios(info);
    const basePort = baseline.info.port as number;

    // The baseline is fed the hot path's own requests (topic: the largest bodies), once per
    // connection count and round; its answer does not depend on the body.
    const baselineScenario = all.topic;
    for (const name of SCENARIOS) await verify(info.port, all[name], all[name].expect, 'service');
    await verify(basePort, baselineScenario, 'allow', 'baseline');
    await verify(net.info.port as number, baselineScenario, 'allow', 'net');
    // The TLS service has its own database and key: its scenarios are built from its own info.
    const allTls = serviceTls ? scenarios(serviceTls.info as unknown as ServiceInfo) : undefined;
    if (serviceTls) await verify(serviceTls.info.port as number, allTls!.topic, allTls!.topic.expect, 'service-tls', true);
    if (control) await verify(control.info.port as number, baselineScenario, 'allow', 'control');

    type Job = { target: 'baseline' | 'net' | 'control' | 'service' | 'service-tls'; scenario: Scenario; connections: number };
    const isService = (job: Job) => job.target === 'service' || job.target === 'service-tls';
    /** What a job's figures are filed under, and its name in the output. */
    const jobId = (job: Job) => `${job.target}|${isService(job) ? job.scenario.name : '-'}|${job.connections}`;
    const jobName = (job: Job) => (job.target === 'service' ? job.scenario.name : job.target === 'service-tls' ? `${job.scenario.name} https` : job.target);
    const groups: Job[][] = CONNECTIONS.map((connections, i) => [
      { target: 'baseline', scenario: baselineScenario, connections },
      { target: 'net', scenario: baselineScenario, connections },
      ...(control ? [{ target: 'control', scenario: baselineScenario, connections } satisfies Job] : []),
      ...SCENARIOS.filter((s) => FULL || i === 0 || PUBLISH_PATH.includes(s)).map((s): Job => ({ target: 'service', scenario: all[s], connections })),
      ...(allTls && SCENARIOS.includes('topic') ? [{ target: 'service-tls', scenario: allTls.topic, connections } satisfies Job] : []),
    ]);
    const runs = groups.reduce((n, g) => n + g.length, 0) * ROUNDS;
    process.stderr.write(`${runs} runs, about ${Math.ceil((runs * (SECONDS + WARMUP_SECONDS + 0.3)) / 5) * 5} s\n`);

    const results = new Map<string, Measurement[]>(); // `${target}|${scenario}|${connections}` → one per round
    let done = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const group of groups) {
        for (const job of round % 2 === 0 ? group : [...group].reverse()) {
          const server = { service, 'service-tls': serviceTls!, control: control!, net, baseline }[job.target];
          const expect = isService(job) ? job.scenario.expect : 'allow';
          const m = await measure(server, job.scenario, expect, job.connections);
          const id = jobId(job);
          results.set(id, [...(results.get(id) ?? []), m]);
          process.stderr.write(
            `  [${++done}/${runs}] round ${round + 1} ${job.target.padEnd(8)} ${jobName(job).padEnd(8)} c=${String(job.connections).padStart(2)}  ${fmt(m.rps).padStart(6)} req/s  server ${fmt(m.serverCpuPerRequest, 1)} µs CPU/req  load generator ${fmt(100 * m.loadgenCpu)}% CPU\n`,
          );
        }
      }
    }

    let problems = 0;
    const rows: string[][] = [];
    const json: Record<string, unknown>[] = [];
    for (const group of groups) {
      const connections = group[0]!.connections;
      const base = results.get(`baseline|-|${connections}`)!;
      const netBase = results.get(`net|-|${connections}`)!;
      for (const job of group.slice(1)) {
        const svc = results.get(jobId(job))!;
        const perRound = svc.map((m, r) => m.rps / base[r]!.rps);
        const perRoundNet = svc.map((m, r) => m.rps / netBase[r]!.rps);
        // HTTPS against the same scenario in plaintext, round by round.
        const plain = job.target === 'service-tls' ? results.get(`service|${job.scenario.name}|${connections}`) : undefined;
        const perRoundPlain = plain ? svc.map((m, r) => m.rps / plain[r]!.rps) : undefined;
        const baseRps = median(base.map((m) => m.rps));
        const svcRps = median(svc.map((m) => m.rps));
        const bad = (ms: Measurement[]) => ms.reduce((n, m) => n + m.non2xx + m.mismatches + m.errors + m.timeouts, 0);
        const badService = bad(svc);
        const badBaseline = bad(base);
        problems += badService + badBaseline;
        rows.push([
          jobName(job),
          String(connections),
          fmt(baseRps),
          fmt(svcRps),
          fmt(median(perRound), 2),
          job.target === 'net' ? '' : fmt(median(perRoundNet), 2),
          perRoundPlain ? fmt(median(perRoundPlain), 2) : '',
          fmt(mean(perRound), 2),
          perRound.map((r) => fmt(r, 2)).join(' '),
          fmt(median(svc.map((m) => m.p50)), 3),
          fmt(median(svc.map((m) => m.p99)), 3),
          fmt(median(base.map((m) => m.p99)), 3),
          fmt(median(base.map((m) => m.serverCpuPerRequest)), 1),
          fmt(median(svc.map((m) => m.serverCpuPerRequest)), 1),
          `${badService}/${badBaseline}`,
        ]);
        json.push({
          scenario: jobName(job),
          connections,
          note: job.target === 'control' ? "a second bare server, identical to the baseline: the run's own noise" : job.scenario.note,
          expectedBody: job.target === 'control' ? 'allow' : job.scenario.expect.replace(info.keyId, '<keyId>'),
          baseline: base,
          service: svc,
          ratio: median(perRound),
          ratioToNet: median(perRoundNet),
          ...(perRoundPlain ? { ratioToPlaintext: median(perRoundPlain), ratioToPlaintextPerRound: perRoundPlain } : {}),
          ratioMean: mean(perRound),
          ratioPerRound: perRound,
        });
      }
    }
    const ok = problems === 0;

    console.log('');
    console.log(
      table(
        [
          'scenario',
          'conns',
          'baseline req/s',
          'service req/s',
          'ratio',
          'vs net',
          'vs plain',
          'mean',
          'per round',
          'svc p50 ms',
          'svc p99 ms',
          'base p99 ms',
          'base µs/req',
          'svc µs/req',
          'bad svc/base',
        ],
        rows,
      ),
    );
    console.log('');
    console.log(
      'ratio = median over the rounds of service req/s ÷ baseline req/s of the same round (standard: ≥ 0.9; noisy machine); mean and per round beside it. Other columns: medians of the rounds.',
    );
    console.log('baseline = bare node:http reading the body and answering 200 text/plain "allow", fed the topic requests.');
    console.log(
      'vs net = the same over a bare node:net server that frames just enough HTTP to answer "allow" (the net row: that server against node:http); standard for cached topic: ≥ 0.9.',
    );
    if (serviceTls)
      console.log(
        "topic https = the service over HTTPS (TLS 1.3, the broker's client certificate, keep-alive); vs plain = against the plaintext topic row of the same round.",
      );
    if (control)
      console.log(
        'control = a second, identical bare server (its row\'s "service" columns are its own): how far apart two identical processes came out in this run.',
      );
    console.log("µs/req = server process CPU (user + system, so the kernel's TCP work too) per request: less noisy than req/s.");
    const loadgen = (target: string) => mean([...results].filter(([k]) => k.startsWith(`${target}|`)).flatMap(([, ms]) => ms.map((m) => m.loadgenCpu)));
    const baselineLoadgen = loadgen('baseline');
    console.log(
      `load generator CPU (one core = 100%): ${fmt(100 * baselineLoadgen)}% during baseline runs, ${fmt(100 * loadgen('service'))}% during service runs` +
        (baselineLoadgen >= 0.9
          ? ': the baseline figure is bounded by the load generator (bare node:http could go faster), so the ratio flatters the service; compare µs/req.'
          : '.'),
    );
    console.log('bad = non-2xx + unexpected bodies + socket errors + timeouts; every answer was checked against:');
    for (const name of SCENARIOS) console.log(`  ${name.padEnd(8)} "${all[name].expect.replace(info.keyId, '<keyId>')}"  — ${all[name].note}`);
    if (!ok) console.log(`\nERROR: ${problems} bad answers or socket errors: these figures do not measure the allow path.`);

    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, 'latest.json');
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: started.toISOString(),
          node: process.version,
          cpus: availableParallelism(),
          cpuModel: cpu,
          seconds: SECONDS,
          warmupSeconds: WARMUP_SECONDS,
          rounds: ROUNDS,
          ok,
          results: json,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nfigures written to ${file}${CPU_PROF ? `; CPU profiles in ${profDir}` : ''}`);
    return ok ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
