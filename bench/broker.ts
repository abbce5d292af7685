// `npm run bench:broker`: what the broker does with voke-auth behind it. One private
// broker node per RabbitMQ version, started as the tests start it (test/support/broker.ts, from
// this repo's rabbitmq.conf), and three authorizers answering it in interleaved rounds:
//   voke-auth  the real service (bench/service-server.ts: embedded PostgreSQL, one seeded key)
//   stub       a bare node:http server that allows everything (bench/broker-stub.ts): the ceiling
//              of any HTTP backend
//   internal   RabbitMQ's internal backend: a broker user with equivalent permissions in the same
//              vhost (no HTTP at all)
//   voke-auth+tls  the real service over HTTPS (a second bench/service-server.ts with throwaway
//              certificates, the broker's client certificate required): the broker boots with
//              deploy/broker-tls's advanced.config, and the run points auth_http at https://
//   stub+tls   the stub over HTTPS (node:https, the same certificates, client certificate
//              required): what HTTPS costs any backend behind this broker
//   voke-auth+cache  voke-auth behind the auth cache profile (rabbitmq.auth-cache.conf:
//              rabbitmq_auth_backend_cache in front of http, BENCH_AUTH_CACHE_TTL_MS): the broker
//              then boots from the profile's files, and every run sets auth_backends to what its
//              authorizer needs ([internal, http] or [internal, cache]); the cache is emptied
//              before each cached run (the plugin app restarted), so a run never reuses the
//              answers of the previous one
// Scenarios:
//   publish  publishes/s with publisher confirms on 4 channels (one connection each), every
//            channel cycling through BENCH_ROUTING_KEYS (500) device routing keys, so that every
//            publish is a topic check (a channel caches only its last 12 answers)
//   connect  connections/s on 4 workers, each looping open + channel + close
// Switching authorizer: the broker reads auth_http.*_path on every call, so the bench points it at
// voke-auth or the stub with `rabbitmqctl eval application:set_env(...)`; the internal backend
// answers for users it knows (auth_backends.1 = internal) before http is asked.
//
// A discarded round 0 (every scenario and authorizer, 2 s each) warms the fresh broker up. Prints
// each run, then per version and scenario the median of the rounds and the ratio to the stub: the
// median over the rounds of each round's ratio (the broker's speed drifts during a run). Besides
// ops/s it reports CPU per operation of the broker (beam.smp, from /proc), of the HTTP authorizer
// (its own process.cpuUsage) and of the AMQP clients (this process).
//
// Environment:
//   BENCH_BROKER_VERSIONS=3.10,4.0,4.3   default: every version startBroker can start here
//   BENCH_ROUNDS=5  BENCH_SECONDS=4  BENCH_WARMUP_SECONDS=1 (the start of every run, discarded)
//   BENCH_SCENARIOS=publish,connect  BENCH_AUTHORIZERS=voke-auth,voke-auth+cache,stub,internal
//   BENCH_AUTH_CACHE_TTL_MS=10000    the cache TTL of voke-auth+cache
//   BENCH_ROUTING_KEYS=500           distinct routing keys per channel
//   BENCH_HTTPC='max_sessions=16,max_keep_alive_length=100'
//                                    experiment: adds the authorizers `voke-auth+httpc` and
//                                    `stub+httpc`, run with these httpc:set_options/1 on the broker's
//                                    default httpc profile (the one auth_http uses), interleaved
//                                    with the others in the same run; the defaults are put back
//                                    after each of their runs
//   BENCH_CPU_PROF=1                 run voke-auth and the stub under `node --cpu-prof`
//                                    (bench/results/profiles/broker-<name>/, not committed)
//   BENCH_TOP=1                      also print the broker processes that ran most (reductions)
//                                    during 3 s of each measured window, to see where a call goes
// Exits non-zero on errors (a refused login, a nack, a closed channel), never on a ratio.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { createBrokerAdmin } from '../src/broker/management.js';
import {
  BROKER_VERSIONS,
  type BrokerVersion,
  brokerAvailable,
  generateAuthTlsCerts,
  installedVersion,
  type StartedBroker,
  startBroker,
} from '../test/support/broker.js';
import { type Child, startChild } from './children.js';
import { envList, envNumber } from './env.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

const ROUNDS = Math.floor(envNumber('BENCH_ROUNDS', 5));
const SECONDS = envNumber('BENCH_SECONDS', 4);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 1);
/** Each run of the discarded round 0. */
const WARMUP_ROUND_SECONDS = 2;
const ROUTING_KEYS = Math.floor(envNumber('BENCH_ROUTING_KEYS', 500));
const CHANNELS = 4;
const WORKERS = 4;
/** Unconfirmed publishes per channel: enough to keep the channel busy, few enough to stay out of flow control. */
const WINDOW = 32;
type Scenario = 'publish' | 'connect';
type Authorizer = 'voke-auth' | 'stub' | 'internal' | 'voke-auth+httpc' | 'stub+httpc' | 'voke-auth+cache' | 'voke-auth+tls' | 'stub+tls';
const HTTPC = process.env.BENCH_HTTPC ?? '';
const SCENARIOS = envList<Scenario>('BENCH_SCENARIOS', ['publish', 'connect']);
const AUTHORIZERS = envList<Authorizer>(
  'BENCH_AUTHORIZERS',
  HTTPC
    ? ['voke-auth', 'voke-auth+tls', 'voke-auth+cache', 'stub', 'stub+tls', 'internal', 'voke-auth+httpc', 'stub+httpc']
    : ['voke-auth', 'voke-auth+tls', 'voke-auth+cache', 'stub', 'stub+tls', 'internal'],
);
const AUTH_CACHE_TTL_MS = Math.floor(envNumber('BENCH_AUTH_CACHE_TTL_MS', 10_000));
/** Boot from the auth cache profile's files (only when a cached authorizer runs). */
const WITH_CACHE_PROFILE = AUTHORIZERS.includes('voke-auth+cache');
const BACKENDS_UNCACHED = 'application:set_env(rabbit, auth_backends, [rabbit_auth_backend_internal, rabbit_auth_backend_http]).';
const BACKENDS_CACHED = 'application:set_env(rabbit, auth_backends, [rabbit_auth_backend_internal, rabbit_auth_backend_cache]).';
/** Empties the broker's auth cache (its ETS table belongs to the plugin's supervision tree). */
const EMPTY_AUTH_CACHE = 'ok = application:stop(rabbitmq_auth_backend_cache), ok = application:start(rabbitmq_auth_backend_cache).';
const DROP_HTTPC_SESSIONS = '[exit(P, kill) || {_, P, _, _} <- supervisor:which_children(httpc_handler_sup), is_pid(P)], ok.';
/** httpc's default profile as OTP starts it (the broker never changes it). */
const HTTPC_DEFAULTS = '[{max_sessions, 2}, {max_keep_alive_length, 5}]';
const httpcOptions = () =>
  `[${HTTPC.split(',')
    .map((kv) => {
      const [k, v] = kv.split('=').map((x) => x.trim());
      return `{${k}, ${v}}`;
    })
    .join(', ')}]`;
const TOP = process.env.BENCH_TOP === '1';

/** Erlang: the 12 processes with the most reductions over 3 s, with the share of all reductions. */
const TOP_EXPR = `
Snap = fun() -> maps:from_list([{P, R} || P <- erlang:processes(), {reductions, R} <- [erlang:process_info(P, reductions)]]) end,
Label = fun(P) -> case erlang:process_info(P, [registered_name, dictionary, current_function]) of
  undefined -> gone;
  [{registered_name, N}, {dictionary, D}, {current_function, F}] ->
    {N, proplists:get_value(process_label, D, proplists:get_value('$initial_call', D)), F} end end,
A = Snap(), timer:sleep(3000), B = Snap(),
Diffs = lists:reverse(lists:keysort(2, [{P, R - maps:get(P, A, 0)} || {P, R} <- maps:to_list(B)])),
Total = lists:sum([D || {_, D} <- Diffs]),
New = length([P || P <- maps:keys(B), not maps:is_key(P, A)]),
{{total_reductions, Total}, {processes_started, New},
 [{round(100 * D / Total), Label(P)} || {P, D} <- lists:sublist(Diffs, 12)]}.`;

// ---------------------------------------------------------------------------------------
// Child processes (voke-auth, stub)

/** A bench child; with BENCH_CPU_PROF=1, under --cpu-prof. */
function startAuthorizer(name: string, file: string, env: Record<string, string> = {}): Promise<Child> {
  const prof = process.env.BENCH_CPU_PROF === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(BENCH_DIR, 'results', 'profiles', `broker-${name}`)}`] : [];
  return startChild(name, file, { nodeArgs: prof, env });
}

// ---------------------------------------------------------------------------------------
// Broker side

interface Login {
  username: string;
  password: string;
}

interface Target {
  broker: StartedBroker;
  vhost: string;
  beamPid: number;
}

/** CPU time (user + system, µs) of the broker's Erlang VM so far. */
function beamCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

async function pointHttpBackendAt(broker: StartedBroker, baseUrl: string): Promise<void> {
  const sets = ['user', 'vhost', 'resource', 'topic']
    .map((p) => `application:set_env(rabbitmq_auth_backend_http, ${p}_path, "${baseUrl}/auth/${p}")`)
    .join(', ');
  await broker.evalErlang(`${sets}, ok.`);
}

function amqpUrl(broker: StartedBroker, login: Login, vhost: string): string {
  const u = new URL(broker.amqpUrl);
  return `amqp://${encodeURIComponent(login.username)}:${encodeURIComponent(login.password)}@${u.host}/${encodeURIComponent(vhost)}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Measured {
  opsPerSec: number;
  brokerUsPerOp: number;
  authUsPerOp: number | undefined;
  /** This process (the AMQP clients) per operation. */
  clientUsPerOp: number;
}

/** Runs `load` (which counts into `counter.n`) for warm-up + measured seconds. */
async function measure(t: Target, auth: Child | undefined, seconds: number, load: (counter: { n: number; stop: boolean }) => Promise<void>): Promise<Measured> {
  const counter = { n: 0, stop: false };
  const running = load(counter);
  let failed: unknown;
  running.catch((e: unknown) => (failed = e));
  await sleep(WARMUP_SECONDS * 1000);
  const [n0, b0, a0, t0, c0] = [counter.n, beamCpu(t.beamPid), await auth?.cpu(), performance.now(), process.cpuUsage()];
  const top = TOP ? t.broker.evalErlang(TOP_EXPR) : undefined;
  await sleep(seconds * 1000);
  if (top) console.log(`    top broker processes (% of reductions): ${(await top).replace(/\s+/g, ' ')}`);
  const [n1, b1, a1, t1, c1] = [counter.n, beamCpu(t.beamPid), await auth?.cpu(), performance.now(), process.cpuUsage(c0)];
  counter.stop = true;
  await running;
  if (failed) throw failed;
  const ops = n1 - n0;
  if (ops === 0) throw new Error('no operation completed in the measured window');
  return {
    opsPerSec: (ops * 1000) / (t1 - t0),
    brokerUsPerOp: (b1 - b0) / ops,
    authUsPerOp: a0 !== undefined && a1 !== undefined ? (a1 - a0) / ops : undefined,
    clientUsPerOp: (c1.user + c1.system) / ops,
  };
}

async function publishLoad(t: Target, login: Login, slug: string, counter: { n: number; stop: boolean }): Promise<void> {
  const conns: ChannelModel[] = [];
  try {
    const chans: ConfirmChannel[] = [];
    for (let i = 0; i < CHANNELS; i++) {
      const c = await amqp.connect(amqpUrl(t.broker, login, t.vhost), { noDelay: true });
      conns.push(c);
      chans.push(await c.createConfirmChannel());
    }
    const body = Buffer.from('{"setpoint":1}');
    await Promise.all(
      chans.map(
        (ch, ci) =>
          new Promise<void>((resolve, reject) => {
            let i = 0;
            let outstanding = 0;
            ch.once('error', reject);
            ch.once('close', () => reject(new Error('publish channel closed')));
            const next = () => {
              while (!counter.stop && outstanding < WINDOW) {
                outstanding++;
                // device ids differ per channel too: every publish is a fresh topic check
                const rk = `${slug}.command.device.dev-${ci}-${i++ % ROUTING_KEYS}`;
                ch.publish('vcp', rk, body, {}, (err) => {
                  outstanding--;
                  if (err) return reject(new Error(`publish ${rk} nacked`));
                  counter.n++;
                  if (counter.stop) {
                    if (outstanding === 0) resolve();
                  } else next();
                });
              }
            };
            next();
          }),
      ),
    );
  } finally {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  }
}

async function connectLoad(t: Target, login: Login, counter: { n: number; stop: boolean }): Promise<void> {
  const url = amqpUrl(t.broker, login, t.vhost);
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (!counter.stop) {
        const c = await amqp.connect(url, { noDelay: true });
        await c.createChannel();
        await c.close();
        counter.n++;
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------

interface Row {
  version: string;
  round: number;
  scenario: Scenario;
  authorizer: Authorizer;
  m: Measured;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const versions: BrokerVersion[] = [];
  for (const v of envList<BrokerVersion>('BENCH_BROKER_VERSIONS', BROKER_VERSIONS)) {
    const a = await brokerAvailable(v);
    if (a.ok) versions.push(v);
    else if (process.env.BENCH_BROKER_VERSIONS) throw new Error(a.reason);
    else process.stderr.write(`skipping RabbitMQ ${v}: ${a.reason}\n`);
  }
  if (!versions.length) throw new Error('no RabbitMQ version can be started here');

  if (AUTHORIZERS.some((a) => a.endsWith('+httpc')) && !HTTPC) throw new Error('the +httpc authorizers need BENCH_HTTPC');
  const voke = AUTHORIZERS.some((a) => a.startsWith('voke-auth')) ? await startAuthorizer('voke-auth', 'service-server.ts') : undefined;
  const stub = AUTHORIZERS.some((a) => a.startsWith('stub')) ? await startAuthorizer('stub', 'broker-stub.ts') : undefined;
  // voke-auth+tls: its own service (and database, and key) over HTTPS; stub+tls: the stub over
  // HTTPS with the same certificates.
  const tlsDir = AUTHORIZERS.some((a) => a.endsWith('+tls')) ? mkdtempSync(join(tmpdir(), 'voke-bench-broker-tls-')) : undefined;
  if (tlsDir) generateAuthTlsCerts(tlsDir);
  const vokeTls =
    tlsDir && AUTHORIZERS.includes('voke-auth+tls')
      ? await startAuthorizer('voke-auth-tls', 'service-server.ts', { BENCH_TLS_DIR: tlsDir, ...(voke ? { BENCH_KEY_ID: String(voke.info.keyId) } : {}) })
      : undefined;
  const stubTls = tlsDir && AUTHORIZERS.includes('stub+tls') ? await startAuthorizer('stub-tls', 'broker-stub.ts', { BENCH_TLS_DIR: tlsDir }) : undefined;
  const children = [voke, stub, vokeTls, stubTls].filter((c): c is Child => c !== undefined);
  const rows: Row[] = [];
  try {
    const slug = String(voke?.info.username ?? 'acme');
    const keyLogin: Login = { username: slug, password: String(voke?.info.password ?? `stub-${randomBytes(8).toString('hex')}`) };
    // The TLS service's key has the same id (BENCH_KEY_ID), so the same vhost and tags; its own secret.
    const tlsLogin: Login | undefined = vokeTls ? { username: String(vokeTls.info.username), password: String(vokeTls.info.password) } : undefined;
    const vhost = String(voke?.info.vhost ?? `partner-${randomBytes(8).toString('hex')}`);
    const internalLogin: Login = { username: 'bench-internal', password: randomBytes(12).toString('hex') };

    console.log(
      `# bench:broker  rounds=${ROUNDS} seconds=${SECONDS} (+${WARMUP_SECONDS} warm-up) routing keys/channel=${ROUTING_KEYS} channels=${CHANNELS} workers=${WORKERS}` +
        `${HTTPC ? ` httpc=${HTTPC}` : ''}${WITH_CACHE_PROFILE ? ` auth cache profile TTL=${AUTH_CACHE_TTL_MS} ms for voke-auth+cache` : ''}`,
    );
    for (const version of versions) {
      const first = voke ?? stub;
      const broker = await startBroker({
        version,
        authBaseUrl: `http://127.0.0.1:${first ? Number(first.info.port) : 1}`,
        ...(WITH_CACHE_PROFILE ? { authCache: { ttlMs: AUTH_CACHE_TTL_MS } } : {}),
        ...(tlsDir ? { authTls: { ca: join(tlsDir, 'ca.pem'), cert: join(tlsDir, 'broker.pem'), key: join(tlsDir, 'broker-key.pem') } } : {}),
      });
      try {
        const full = installedVersion(version) ?? version;
        const beamPid = Number(await broker.evalErlang('list_to_integer(os:getpid()).'));
        const httpcNow = await broker.evalErlang(
          'httpc:get_options([max_sessions, max_keep_alive_length, keep_alive_timeout, pipeline_timeout, max_pipeline_length]).',
        );
        console.log(`## RabbitMQ ${full} (node pid ${beamPid}); httpc default profile: ${httpcNow.replace(/\s+/g, ' ')}`);

        // The partner's vhost as voke-auth provisions it, and an internal user with the same rights.
        const admin = createBrokerAdmin({ managementUrl: broker.managementUrl, serviceUser: broker.serviceUser, timeoutMs: 10_000 });
        await admin.provisionKeyVhost({ vhost, slug });
        const mgmt = new URL(broker.managementUrl);
        const api = async (method: string, path: string, body?: unknown) => {
          const res = await fetch(`http://${mgmt.host}${path}`, {
            method,
            headers: {
              authorization: `Basic ${Buffer.from(`${broker.adminUser}:${broker.adminPassword}`).toString('base64')}`,
              'content-type': 'application/json',
            },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
        };
        const v = encodeURIComponent(vhost);
        await api('PUT', `/api/users/${internalLogin.username}`, { password: internalLogin.password, tags: '' });
        // What voke-auth grants a key with vcp:connect + every vcp:write:* scope.
        await api('PUT', `/api/permissions/${v}/${internalLogin.username}`, {
          configure: '^$',
          write: '^vcp$',
          read: `^vcp\\.${slug}\\.(event\\..+|command|schedule|config)$`,
        });
        await api('PUT', `/api/topic-permissions/${v}/${internalLogin.username}`, {
          exchange: 'vcp',
          write: `^${slug}\\.(command\\.(site-setpoint|device\\.[^.]+|mode)|schedule\\.[^.]+|config\\.[^.]+)$`,
          read: '.*',
        });
        const target: Target = { broker, vhost, beamPid };

        const run = async (scenario: Scenario, authorizer: Authorizer, seconds: number): Promise<Measured> => {
          const child =
            authorizer === 'voke-auth+tls'
              ? vokeTls
              : authorizer === 'stub+tls'
                ? stubTls
                : authorizer.startsWith('voke-auth')
                  ? voke
                  : authorizer.startsWith('stub')
                    ? stub
                    : undefined;
          const scheme = authorizer.endsWith('+tls') ? 'https' : 'http';
          if (child) await pointHttpBackendAt(broker, `${scheme}://127.0.0.1:${Number(child.info.port)}`);
          const tuned = authorizer.endsWith('+httpc');
          if (tuned) await broker.evalErlang(`httpc:set_options(${httpcOptions()}).`);
          const cached = authorizer === 'voke-auth+cache';
          if (WITH_CACHE_PROFILE) await broker.evalErlang(cached ? BACKENDS_CACHED : BACKENDS_UNCACHED);
          if (cached) await broker.evalErlang(EMPTY_AUTH_CACHE);
          const login = authorizer === 'internal' ? internalLogin : authorizer === 'voke-auth+tls' ? tlsLogin! : keyLogin;
          const m = await measure(target, child, seconds, (counter) =>
            scenario === 'publish' ? publishLoad(target, login, slug, counter) : connectLoad(target, login, counter),
          );
          if (tuned) {
            await broker.evalErlang(`httpc:set_options(${HTTPC_DEFAULTS}).`);
            // The sessions a +httpc run opened (one per busy channel) would otherwise serve the
            // next run too. Only then: killed handlers leave the broker's HTTP calls slower for
            // the rest of the run (every HTTP authorizer fell from ~3,000 to ~500 publishes/s
            // over five rounds when this ran after every run; the internal backend did not).
            await broker.evalErlang(DROP_HTTPC_SESSIONS);
          }
          await api('DELETE', `/api/queues/${v}/${encodeURIComponent(`vcp.${slug}.command`)}/contents`);
          return m;
        };

        // Round 0, discarded: a fresh broker loads code and opens sessions on its first calls,
        // and whichever authorizer ran first paid for it (voke-auth, every time, before this).
        process.stderr.write(`  warm-up round (${WARMUP_ROUND_SECONDS} s per run, discarded)…\n`);
        for (const scenario of SCENARIOS) for (const authorizer of AUTHORIZERS) await run(scenario, authorizer, WARMUP_ROUND_SECONDS);

        for (let round = 1; round <= ROUNDS; round++) {
          // rotate the order every round, so drift spreads over all of them
          const order = AUTHORIZERS.map((_, i) => AUTHORIZERS[(i + round - 1) % AUTHORIZERS.length]!);
          for (const scenario of SCENARIOS) {
            for (const authorizer of order) {
              const m = await run(scenario, authorizer, SECONDS);
              rows.push({ version: full, round, scenario, authorizer, m });
              console.log(
                `  round ${round} ${scenario.padEnd(7)} ${authorizer.padEnd(15)} ${m.opsPerSec.toFixed(0).padStart(7)}/s  broker ${m.brokerUsPerOp.toFixed(0).padStart(4)} µs/op` +
                  (m.authUsPerOp !== undefined ? `  authorizer ${m.authUsPerOp.toFixed(0).padStart(4)} µs/op` : '') +
                  `  clients ${m.clientUsPerOp.toFixed(0).padStart(4)} µs/op`,
              );
            }
          }
        }
      } finally {
        await broker.stop();
      }
    }
  } finally {
    for (const c of children) c.process.stdin?.end();
    if (tlsDir) setTimeout(() => rmSync(tlsDir, { recursive: true, force: true }), 2000).unref();
  }

  console.log('\n## Medians of the rounds (ratio = authorizer ÷ stub in the same round, median over the rounds)');
  console.log('| RabbitMQ | scenario | authorizer | ops/s | ratio to stub | per round | broker µs/op | authorizer µs/op | clients µs/op |');
  console.log('|---|---|---|---:|---:|---|---:|---:|---:|');
  for (const version of [...new Set(rows.map((r) => r.version))]) {
    for (const scenario of SCENARIOS) {
      const of = (a: Authorizer) => rows.filter((r) => r.version === version && r.scenario === scenario && r.authorizer === a);
      const stubOf = (round: number) => of('stub').find((r) => r.round === round);
      for (const a of AUTHORIZERS) {
        const rs = of(a);
        const ops = median(rs.map((r) => r.m.opsPerSec));
        const auth = rs.every((r) => r.m.authUsPerOp !== undefined) ? median(rs.map((r) => r.m.authUsPerOp!)).toFixed(0) : '–';
        // Round by round: the broker's speed drifts over a run (both ways, by up to 2×), and a
        // ratio of two runs minutes apart would measure the drift.
        const perRound = rs.flatMap((r) => {
          const s = stubOf(r.round);
          return s ? [r.m.opsPerSec / s.m.opsPerSec] : [];
        });
        const ratio = perRound.length ? median(perRound).toFixed(2) : '–';
        console.log(
          `| ${version} | ${scenario} | ${a} | ${ops.toFixed(0)} | ${ratio} | ${perRound.map((x) => x.toFixed(2)).join(' ')} | ` +
            `${median(rs.map((r) => r.m.brokerUsPerOp)).toFixed(0)} | ${auth} | ${median(rs.map((r) => r.m.clientUsPerOp)).toFixed(0)} |`,
        );
      }
    }
  }
  /** `a ÷ b` round by round (the two runs of a round are minutes apart at most), when both ran. */
  const pairRatios = (a: Authorizer, b: Authorizer, title: string) => {
    if (!AUTHORIZERS.includes(a) || !AUTHORIZERS.includes(b)) return;
    console.log(`\n## ${a} ÷ ${b}, per round (${title})`);
    for (const version of [...new Set(rows.map((r) => r.version))]) {
      for (const scenario of SCENARIOS) {
        const ratios: number[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          const at = (x: Authorizer) => rows.find((r) => r.version === version && r.scenario === scenario && r.round === round && r.authorizer === x);
          const p = at(a);
          const q = at(b);
          if (p && q) ratios.push(p.m.opsPerSec / q.m.opsPerSec);
        }
        console.log(`  ${version} ${scenario.padEnd(7)} ${ratios.map((x) => x.toFixed(2)).join('  ')}  median ${median(ratios).toFixed(2)}`);
      }
    }
  };
  pairRatios('voke-auth+tls', 'voke-auth', 'HTTPS with the client certificate against plaintext; target ≥ 0.9');
  pairRatios('stub+tls', 'stub', 'the same for a bare allow server: what HTTPS costs any backend behind this broker');
  pairRatios('voke-auth+tls', 'stub+tls', 'voke-auth over HTTPS against the bare HTTPS server');
  if (AUTHORIZERS.includes('voke-auth+cache') && AUTHORIZERS.includes('voke-auth')) {
    // Round by round (the two runs of a round are minutes apart at most): the least noisy ratio here.
    console.log('\n## voke-auth+cache ÷ voke-auth, per round (target: publish ≥ 3, connect ≥ 1)');
    for (const version of [...new Set(rows.map((r) => r.version))]) {
      for (const scenario of SCENARIOS) {
        const ratios: number[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          const at = (a: Authorizer) => rows.find((r) => r.version === version && r.scenario === scenario && r.round === round && r.authorizer === a);
          const c = at('voke-auth+cache');
          const u = at('voke-auth');
          if (c && u) ratios.push(c.m.opsPerSec / u.m.opsPerSec);
        }
        console.log(`  ${version} ${scenario.padEnd(7)} ${ratios.map((x) => x.toFixed(2)).join('  ')}  median ${median(ratios).toFixed(2)}`);
      }
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
