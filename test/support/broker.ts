// Throwaway RabbitMQ for end-to-end tests. Through testcontainers when a Docker engine answers,
// else the machine's rabbitmq-server as a private node (scripts/rabbitmq-node.ts, shared with
// `npm run broker`). Either way the broker config is generated from the repo's rabbitmq.conf,
// definitions.json and enabled_plugins; only ports, hosts, file paths and passwords are rewritten.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  BROKER_VERSIONS,
  type BrokerVersion,
  installedVersion,
  LOCAL_INSTALLS,
  nodeEnvironment,
  nodeFolders,
  prepareLocalInstall,
  REPO,
  REPO_CONF,
  REPO_CONF_AUTH_CACHE,
  REPO_PLUGINS,
  REPO_PLUGINS_AUTH_CACHE,
  renderBrokerConfig,
  renderDefinitions,
  sleep,
  tail,
  waitReady,
} from '../../scripts/rabbitmq-node.js';
import { freePort } from '../../src/net/free-port.js';
import { dockerAnswers } from './docker.js';

export { BROKER_VERSIONS, type BrokerVersion, installedVersion, type RenderConfigInput, renderBrokerConfig } from '../../scripts/rabbitmq-node.js';

// The HTTPS-to-voke-auth variant (docs/auth-listener.md): its rabbitmq.conf and advanced.config.
const REPO_CONF_AUTH_TLS = path.join(REPO, 'deploy', 'broker-tls', 'rabbitmq.conf');
const REPO_ADVANCED_AUTH_TLS = path.join(REPO, 'deploy', 'broker-tls', 'advanced.config');
/** Where deploy/broker-tls/advanced.config expects its files (the compose mount); rewritten for a test node. */
const AUTH_TLS_MOUNT = '/etc/rabbitmq/auth-tls/';

/** The repo files a node boots from: the default ones, the auth cache profile's or the HTTPS variant's. */
function profileFiles(opts: StartBrokerOptions): { conf: string; plugins: string } {
  // With both, the cache profile's files (http paths) and the TLS options in advanced.config:
  // what bench:broker needs to point the broker at plain and HTTPS authorizers in one run.
  if (opts.authTls && !opts.authCache) return { conf: REPO_CONF_AUTH_TLS, plugins: REPO_PLUGINS };
  return opts.authCache ? { conf: REPO_CONF_AUTH_CACHE, plugins: REPO_PLUGINS_AUTH_CACHE } : { conf: REPO_CONF, plugins: REPO_PLUGINS };
}

/** deploy/broker-tls/advanced.config with its three file paths pointing at `files`. */
export function renderAuthTlsAdvancedConfig(files: AuthTlsFilesForBroker): string {
  const names: Record<string, string> = { 'ca.pem': files.ca, 'broker.pem': files.cert, 'broker-key.pem': files.key };
  let text = readFileSync(REPO_ADVANCED_AUTH_TLS, 'utf8');
  for (const [name, file] of Object.entries(names)) {
    const from = `"${AUTH_TLS_MOUNT}${name}"`;
    if (!text.includes(from)) throw new Error(`deploy/broker-tls/advanced.config lacks ${from}`);
    text = text.replace(from, JSON.stringify(file));
  }
  return text;
}

// ---------------------------------------------------------------------------------------
// Broker versions (docs/broker-versions.md). Every suite registered with describeBroker runs
// once per release line: 3.10 from the machine's Debian 12 package, 4.0 and 4.3 from the folders
// that scripts/rabbitmq-tree.sh unpacks from Debian 13 and Debian unstable packages.
// RABBITMQ_VERSIONS=4.3 (or a comma-separated list) runs some of them.

const CONTAINER_IMAGES: Record<BrokerVersion, string> = {
  '3.10': 'rabbitmq:3.10-management',
  '4.0': 'rabbitmq:4.0-management',
  '4.3': 'rabbitmq:4.3-management',
};

/** The versions this run covers: RABBITMQ_VERSIONS (comma-separated) or all. */
export function brokerVersions(): BrokerVersion[] {
  const wanted = (process.env.RABBITMQ_VERSIONS ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (!wanted.length) return [...BROKER_VERSIONS];
  const unknown = wanted.filter((v) => !BROKER_VERSIONS.includes(v as BrokerVersion));
  if (unknown.length) throw new Error(`RABBITMQ_VERSIONS: unknown ${unknown.join(', ')} (known: ${BROKER_VERSIONS.join(', ')})`);
  return wanted as BrokerVersion[];
}

/** The broker's side of HTTPS to the auth listener: PEM file paths. */
export interface AuthTlsFilesForBroker {
  /** The CA that signed the auth listener's certificate. */
  readonly ca: string;
  /** The broker's client certificate (signed by the CA the auth listener trusts) and its key. */
  readonly cert: string;
  readonly key: string;
}

export interface StartBrokerOptions {
  /** Where the broker's auth_http calls go, e.g. `http://127.0.0.1:34567` (paths /auth/* kept). */
  readonly authBaseUrl: string;
  /** Also start the AMQPS listener with a throwaway CA and a server cert for localhost/127.0.0.1. */
  readonly tls?: boolean;
  /** Default 60000. */
  readonly startTimeoutMs?: number;
  /** Default: the first of brokerVersions(). */
  readonly version?: BrokerVersion;
  /**
   * Boot from the auth cache profile (rabbitmq.auth-cache.conf, enabled_plugins.auth-cache),
   * with this TTL instead of the file's auth_cache.cache_ttl.
   */
  readonly authCache?: { readonly ttlMs: number };
  /**
   * Boot from the HTTPS variant (deploy/broker-tls/: auth_http paths on https://, the TLS options
   * in advanced.config) with these files; authBaseUrl's host and port are kept.
   */
  readonly authTls?: AuthTlsFilesForBroker;
}

export interface StartedBroker {
  readonly mode: 'local' | 'container';
  readonly version: BrokerVersion;
  /** `amqp://127.0.0.1:<port>`, no credentials. */
  readonly amqpUrl: string;
  /** `amqps://localhost:<port>` when started with `tls`. */
  readonly amqpsUrl?: string;
  /** PEM file of the throwaway CA (with `tls`). */
  readonly caCertPath?: string;
  /** `http://<admin>:<password>@127.0.0.1:<port>`. */
  readonly managementUrl: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly serviceUser: string;
  readonly servicePassword: string;
  /** The node's logs (removed by stop() unless KEEP_BROKER_DIR=1). */
  readonly logDir: string;
  /** The node's main log file (local mode). */
  readonly logFile?: string;
  /** Runs `rabbitmqctl eval <expr>` against the node and returns its output (local mode only). */
  evalErlang(expr: string): Promise<string>;
  stop(): Promise<void>;
}

export type BrokerAvailability = { ok: true; mode: 'local' | 'container' } | { ok: false; reason: string };

// ---------------------------------------------------------------------------------------
// Availability

const availability = new Map<BrokerVersion, Promise<BrokerAvailability>>();

/** Whether a broker of this version can be started here (Docker engine, or a local install). Cached. */
export function brokerAvailable(version: BrokerVersion = '3.10'): Promise<BrokerAvailability> {
  let known = availability.get(version);
  if (!known) {
    known = (async () => {
      if (await dockerUsable()) return { ok: true, mode: 'container' } as const;
      // A missing 4.x folder is built (~15 s once, from the Debian mirror; the script locks).
      const prepared = prepareLocalInstall(version);
      if (!prepared.ok) return { ok: false, reason: `no Docker engine answers; ${prepared.reason}` } as const;
      return { ok: true, mode: 'local' } as const;
    })();
    availability.set(version, known);
  }
  return known;
}

async function dockerUsable(): Promise<boolean> {
  if (process.env.VOKE_BROKER === 'local') return false;
  return dockerAnswers();
}

/**
 * Registers an end-to-end suite: runs it when a broker can be started, skips it with the
 * reason otherwise, and fails instead of skipping when E2E_REQUIRED=1. Use with top-level
 * await: `await describeBroker('name', () => { ... })`. A broker that is available but
 * fails to boot is always a failure (most likely the repo's config is broken).
 */
/** E2E_REQUIRED=1 (or true/yes): a broker that cannot be started fails the run instead of skipping. */
function e2eRequired(): boolean {
  return ['1', 'true', 'yes'].includes((process.env.E2E_REQUIRED ?? '').toLowerCase());
}

export async function describeBroker(name: string, fn: (version: BrokerVersion) => void): Promise<void> {
  const { describe, it } = await import('vitest');
  for (const version of brokerVersions()) {
    const avail = await brokerAvailable(version);
    const title = `${name} [RabbitMQ ${installedVersion(version) ?? version}]`;
    if (avail.ok) {
      describe(title, () => fn(version));
    } else if (e2eRequired()) {
      describe(title, () => {
        it('needs a RabbitMQ broker (E2E_REQUIRED=1)', () => {
          throw new Error(`E2E_REQUIRED=1 but no broker can be started: ${avail.reason}`);
        });
      });
    } else {
      describe.skip(`${title} [skipped: ${avail.reason}]`, () => fn(version));
    }
  }
}

/**
 * Throwaway certificates for HTTPS between the broker and the auth listener, the names
 * deploy/broker-tls expects: ca.pem (+ ca-key.pem), voke-auth.pem + voke-auth-key.pem (server:
 * localhost, 127.0.0.1, voke-auth), broker.pem + broker-key.pem (client). Also stranger.pem +
 * stranger-key.pem: a client certificate from another CA (other-ca.pem), which must be refused.
 */
export function generateAuthTlsCerts(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const ossl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    ossl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${ca}-key.pem`,
      '-out',
      `${ca}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=voke-test-${ca}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  }
  const leaf = (name: string, ca: string, cn: string, ext: string[]) => {
    ossl('req', ...ec, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(path.join(dir, `${name}.ext`), ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', ...ext].join('\n'));
    ossl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}-key.pem`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  };
  leaf('voke-auth', 'ca', 'voke-auth', ['subjectAltName=DNS:voke-auth,DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth']);
  leaf('broker', 'ca', 'rabbitmq', ['extendedKeyUsage=clientAuth']);
  leaf('stranger', 'other-ca', 'rabbitmq', ['extendedKeyUsage=clientAuth']);
}

/** Throwaway CA and a server certificate for localhost and 127.0.0.1 (ca.pem, server.pem, server-key.pem). */
export function generateTestCerts(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const ossl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=voke-test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  ossl('req', ...ec, '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(
    path.join(dir, 'server.ext'),
    [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
    ].join('\n'),
  );
  ossl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
}

// ---------------------------------------------------------------------------------------
// Start

/** Starts a broker (container if Docker answers, else a private local node). */
export async function startBroker(opts: StartBrokerOptions): Promise<StartedBroker> {
  const version = opts.version ?? brokerVersions()[0]!;
  const avail = await brokerAvailable(version);
  if (!avail.ok) throw new Error(`cannot start a broker: ${avail.reason}`);
  return avail.mode === 'container' ? startContainer(opts, version) : startLocal(opts, version);
}

async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

// Nodes of this process, killed if the process exits without stop().
const liveGroups = new Map<number, string>();
let exitHookInstalled = false;
function trackForExit(pgid: number, dir: string): void {
  liveGroups.set(pgid, dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [pid, d] of liveGroups) {
      killGroup(pid, 'SIGKILL');
      if (process.env.KEEP_BROKER_DIR !== '1') rmSync(d, { recursive: true, force: true });
    }
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* already gone */
  }
}

async function startLocal(opts: StartBrokerOptions, version: BrokerVersion): Promise<StartedBroker> {
  const install = LOCAL_INSTALLS[version];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'voke-rmq-'));
  const { home, mnesia, logDir } = nodeFolders(dir);
  const certDir = opts.tls ? path.join(dir, 'certs') : undefined;
  const [amqpPort, managementPort, distPort, amqpsPort] = (await freePorts(4)) as [number, number, number, number];
  const nodeName = `voke-test-${process.pid}-${randomBytes(3).toString('hex')}@localhost`;

  const defs = renderDefinitions();
  const definitionsPath = path.join(dir, 'definitions.json');
  writeFileSync(definitionsPath, defs.json);
  if (certDir) generateTestCerts(certDir);
  const confPath = path.join(dir, 'rabbitmq.conf');
  const files = profileFiles(opts);
  writeFileSync(
    confPath,
    renderBrokerConfig(readFileSync(files.conf, 'utf8'), {
      version,
      authCacheTtlMs: opts.authCache?.ttlMs,
      bindHost: '127.0.0.1',
      amqpPort,
      managementPort,
      amqpsPort: opts.tls ? amqpsPort : undefined,
      authBaseUrl: opts.authBaseUrl,
      definitionsPath,
      certDir,
    }),
  );
  const pluginsPath = path.join(dir, 'enabled_plugins');
  copyFileSync(files.plugins, pluginsPath);
  if (opts.authTls) writeFileSync(path.join(dir, 'advanced.config'), renderAuthTlsAdvancedConfig(opts.authTls));
  const envFile = path.join(dir, 'rabbitmq-env.conf');
  writeFileSync(envFile, '');

  const env = nodeEnvironment(install, nodeName, distPort, {
    home,
    mnesia,
    logDir,
    confPath,
    pluginsPath,
    envFile,
    advancedConfigPath: path.join(dir, 'advanced.config'),
  });

  const out = openSync(path.join(logDir, 'stdout.log'), 'a');
  let child: ChildProcess;
  try {
    // detached: own process group, so stop() reaches the wrapper script and beam alike.
    child = spawn(install.server, [], { env, detached: true, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  const pgid = child.pid;
  if (pgid === undefined) throw new Error(`could not spawn ${install.server}`);
  trackForExit(pgid, dir);
  // If this process dies without running exit hooks (SIGKILL), a watchdog ends the node.
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL -${pgid} 2>/dev/null; rm -rf '${dir}'`], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  let exited = false;
  const exitedP = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    killGroup(pgid, 'SIGTERM');
    await Promise.race([exitedP, sleep(8000)]);
    killGroup(pgid, 'SIGKILL'); // stragglers in the group (or a node that ignored SIGTERM)
    await Promise.race([exitedP, sleep(2000)]);
    if (watchdog.pid) killGroup(watchdog.pid, 'SIGKILL');
    liveGroups.delete(pgid);
    if (process.env.KEEP_BROKER_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  };

  const managementUrl = `http://${encodeURIComponent(defs.creds.adminUser)}:${encodeURIComponent(defs.creds.adminPassword)}@127.0.0.1:${managementPort}`;
  try {
    await waitReady({
      amqp: { host: '127.0.0.1', port: amqpPort },
      overviewUrl: `http://127.0.0.1:${managementPort}/api/overview`,
      user: defs.creds.adminUser,
      password: defs.creds.adminPassword,
      timeoutMs: opts.startTimeoutMs ?? 60_000,
      died: () => exited,
      describe: () => `node ${nodeName} log:\n${tail(path.join(logDir, `${nodeName}.log`))}\nstdout:\n${tail(path.join(logDir, 'stdout.log'), 20)}`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const ctl = path.join(path.dirname(install.server), 'rabbitmqctl');
  const evalErlang = (expr: string) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(ctl, ['-n', nodeName, 'eval', expr], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let outText = '';
      p.stdout.on('data', (b: Buffer) => (outText += b.toString()));
      p.stderr.on('data', (b: Buffer) => (outText += b.toString()));
      p.once('error', reject);
      p.once('exit', (code) => (code === 0 ? resolve(outText.trim()) : reject(new Error(`rabbitmqctl eval exited ${code}: ${outText.trim()}`))));
    });
  return {
    mode: 'local',
    version,
    logFile: path.join(logDir, `${nodeName}.log`),
    evalErlang,
    amqpUrl: `amqp://127.0.0.1:${amqpPort}`,
    ...(certDir ? { amqpsUrl: `amqps://localhost:${amqpsPort}`, caCertPath: path.join(certDir, 'ca.pem') } : {}),
    managementUrl,
    ...defs.creds,
    logDir,
    stop,
  };
}

// Container mode: untested on this machine (no Docker engine); kept symmetrical to local mode.
async function startContainer(opts: StartBrokerOptions, version: BrokerVersion): Promise<StartedBroker> {
  const { GenericContainer, TestContainers, Wait } = await import('testcontainers');
  // The files would have to be copied into the container and the paths rewritten to theirs.
  if (opts.authTls) throw new Error('startBroker: authTls runs on local nodes only (VOKE_BROKER=local)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'voke-rmq-'));
  const certDir = opts.tls ? path.join(dir, 'certs') : undefined;
  if (certDir) generateTestCerts(certDir);
  const defs = renderDefinitions();
  // The auth fixture/service runs on this host: expose its port to the container.
  const auth = new URL(opts.authBaseUrl);
  const authPort = Number(auth.port || 80);
  await TestContainers.exposeHostPorts(authPort);
  auth.hostname = 'host.testcontainers.internal';
  const files = profileFiles(opts);
  const conf = renderBrokerConfig(readFileSync(files.conf, 'utf8'), {
    version,
    authCacheTtlMs: opts.authCache?.ttlMs,
    amqpPort: 5672,
    managementPort: 15672,
    amqpsPort: opts.tls ? 5671 : undefined,
    authBaseUrl: auth.toString(),
    definitionsPath: '/etc/rabbitmq/definitions.json',
    certDir: certDir ? '/etc/rabbitmq/certs' : undefined,
  });
  let container = new GenericContainer(CONTAINER_IMAGES[version])
    .withExposedPorts(5672, 15672, ...(opts.tls ? [5671] : []))
    .withCopyContentToContainer([
      { content: conf, target: '/etc/rabbitmq/rabbitmq.conf' },
      { content: defs.json, target: '/etc/rabbitmq/definitions.json' },
      { content: readFileSync(files.plugins, 'utf8'), target: '/etc/rabbitmq/enabled_plugins' },
    ])
    .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
    .withStartupTimeout(opts.startTimeoutMs ?? 90_000);
  if (certDir) {
    container = container.withCopyFilesToContainer(
      ['ca.pem', 'server.pem', 'server-key.pem'].map((f) => ({ source: path.join(certDir, f), target: `/etc/rabbitmq/certs/${f}`, mode: 0o644 })),
    );
  }
  const started = await container.start();
  const host = started.getHost();
  const mgmtPort = started.getMappedPort(15672);
  const logDir = path.join(dir, 'log');
  mkdirSync(logDir);
  return {
    mode: 'container',
    version,
    amqpUrl: `amqp://${host}:${started.getMappedPort(5672)}`,
    ...(certDir ? { amqpsUrl: `amqps://localhost:${started.getMappedPort(5671)}`, caCertPath: path.join(certDir, 'ca.pem') } : {}),
    managementUrl: `http://${encodeURIComponent(defs.creds.adminUser)}:${encodeURIComponent(defs.creds.adminPassword)}@${host}:${mgmtPort}`,
    ...defs.creds,
    logDir,
    async evalErlang() {
      throw new Error('evalErlang: local nodes only');
    },
    async stop() {
      await started.stop({ timeout: 5000 }).catch(() => undefined);
      if (existsSync(dir) && process.env.KEEP_BROKER_DIR !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// Auth relay: the broker's auth_http URLs must be known before it boots, and the service's
// auth listener binds port 0 only when the service starts (after the broker, whose URLs the
// service needs). A relay bound on port 0 first closes the gap without guessing a free port.

export interface AuthRelay {
  /** `http://127.0.0.1:<port>`: give it to startBroker as authBaseUrl. */
  readonly url: string;
  /**
   * Where connections go from now on (the service's auth URL). Until set, connections are refused.
   * Changing it cuts the connections relayed so far: the broker's keep-alive connections to the
   * previous target are gone, its next calls reach the new one.
   */
  target(url: string): void;
  close(): Promise<void>;
}

export async function startAuthRelay(): Promise<AuthRelay> {
  let to: URL | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!to) return client.destroy();
    const upstream = net.connect({ host: to.hostname, port: Number(to.port), noDelay: true });
    client.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    target(url) {
      if (to !== undefined) for (const s of sockets) s.destroy();
      to = new URL(url);
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------
// A cluster of local nodes (docs/cluster.md): one version, one shared Erlang cookie (a shared
// HOME), each node with its own name, ports and folders, all booted from the repo's files with
// the same definitions. The nodes boot in parallel as standalone nodes; then every node but the
// first joins the first (`stop_app; reset; join_cluster; start_app`). Local mode only.

export interface StartClusterOptions {
  /** How many nodes (3 is the usual minimum). */
  readonly nodes: number;
  /** Default: the first of brokerVersions(). */
  readonly version?: BrokerVersion;
  /** Node i asks authBaseUrls[i % length] (each may point at a different voke-auth instance). */
  readonly authBaseUrls: readonly string[];
  /** Per node boot; default 90000. */
  readonly startTimeoutMs?: number;
}

export interface ClusterNode {
  /** e.g. `voke-c1-1234-ab12cd@localhost`. */
  readonly nodeName: string;
  /** `amqp://127.0.0.1:<port>`, no credentials. */
  readonly amqpUrl: string;
  /** `http://<admin>:<password>@127.0.0.1:<port>`. */
  readonly managementUrl: string;
  readonly logFile: string;
  /** Whether the harness has it running (false between stopNode and startNode). */
  readonly running: boolean;
}

export interface StartedCluster {
  readonly version: BrokerVersion;
  readonly nodes: readonly ClusterNode[];
  /** Every node's management URL, in node order (what RABBITMQ_MANAGEMENT_URL lists). */
  readonly managementUrls: readonly string[];
  /** Every node's AMQP URL, in node order. */
  readonly amqpUrls: readonly string[];
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly serviceUser: string;
  readonly servicePassword: string;
  /** `rabbitmqctl -n <node i> <args…>`; resolves with its output, rejects on a non-zero exit. */
  ctl(i: number, ...args: string[]): Promise<string>;
  /** Graceful stop of node i; its data stays (startNode brings it back as the same member). */
  stopNode(i: number): Promise<void>;
  /** Starts a stopped node i again and waits until its AMQP port and management API answer. */
  startNode(i: number): Promise<void>;
  stop(): Promise<void>;
}

interface ClusterNodeSpec {
  nodeName: string;
  dir: string;
  env: NodeJS.ProcessEnv;
  amqpPort: number;
  managementPort: number;
  logDir: string;
  child?: ChildProcess;
  pgid?: number;
  exited?: Promise<void>;
  hasExited: boolean;
}

export async function startCluster(opts: StartClusterOptions): Promise<StartedCluster> {
  const version = opts.version ?? brokerVersions()[0]!;
  const avail = await brokerAvailable(version);
  if (!avail.ok) throw new Error(`cannot start a broker: ${avail.reason}`);
  if (avail.mode !== 'local') throw new Error('startCluster: local nodes only (no container mode)');
  if (opts.nodes < 1 || opts.authBaseUrls.length === 0) throw new Error('startCluster: nodes ≥ 1 and at least one authBaseUrl');
  const install = LOCAL_INSTALLS[version];
  const ctlPath = path.join(path.dirname(install.server), 'rabbitmqctl');
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const root = mkdtempSync(path.join(os.tmpdir(), 'voke-rmq-cluster-'));
  // One cookie for every node and for rabbitmqctl: the shared HOME holds it.
  const home = path.join(root, 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(path.join(home, '.erlang.cookie'), randomBytes(20).toString('hex').toUpperCase(), { mode: 0o400 });
  const defs = renderDefinitions();
  const definitionsPath = path.join(root, 'definitions.json');
  writeFileSync(definitionsPath, defs.json);
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;

  const specs: ClusterNodeSpec[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const dir = path.join(root, `node${i + 1}`);
    const logDir = path.join(dir, 'log');
    for (const sub of ['mnesia', 'log']) mkdirSync(path.join(dir, sub), { recursive: true });
    const [amqpPort, managementPort, distPort] = (await freePorts(3)) as [number, number, number];
    const confPath = path.join(dir, 'rabbitmq.conf');
    writeFileSync(
      confPath,
      renderBrokerConfig(readFileSync(REPO_CONF, 'utf8'), {
        version,
        bindHost: '127.0.0.1',
        amqpPort,
        managementPort,
        authBaseUrl: opts.authBaseUrls[i % opts.authBaseUrls.length]!,
        definitionsPath,
      }),
    );
    const pluginsPath = path.join(dir, 'enabled_plugins');
    copyFileSync(REPO_PLUGINS, pluginsPath);
    const envFile = path.join(dir, 'rabbitmq-env.conf');
    writeFileSync(envFile, '');
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RABBITMQ_')) env[k] = v;
    const nodeName = `voke-c${i + 1}-${tag}@localhost`;
    Object.assign(env, {
      HOME: home,
      RABBITMQ_NODENAME: nodeName,
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_CONFIG_FILE: confPath,
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
      RABBITMQ_CONF_ENV_FILE: envFile,
      RABBITMQ_ENABLED_PLUGINS_FILE: pluginsPath,
      RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: logDir,
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '+sbwt none +sbwtdcpu none +sbwtdio none',
    });
    if (install.erlangBin) env.PATH = `${install.erlangBin}:${env.PATH ?? ''}`;
    specs.push({ nodeName, dir, env, amqpPort, managementPort, logDir, hasExited: false });
  }

  const describeNode = (s: ClusterNodeSpec) => () =>
    `node ${s.nodeName} log:\n${tail(path.join(s.logDir, `${s.nodeName}.log`))}\nstdout:\n${tail(path.join(s.logDir, 'stdout.log'), 20)}`;

  const spawnNode = (s: ClusterNodeSpec) => {
    const out = openSync(path.join(s.logDir, 'stdout.log'), 'a');
    try {
      s.child = spawn(install.server, [], { env: s.env, detached: true, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    if (s.child.pid === undefined) throw new Error(`could not spawn ${install.server}`);
    s.pgid = s.child.pid;
    s.hasExited = false;
    trackForExit(s.pgid, root);
    const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL -${s.pgid} 2>/dev/null; rm -rf '${root}'`], {
      detached: true,
      stdio: 'ignore',
    });
    watchdog.unref();
    if (watchdog.pid) watchdogs.push(watchdog.pid);
    s.exited = new Promise<void>((resolve) =>
      s.child!.once('exit', () => {
        s.hasExited = true;
        resolve();
      }),
    );
  };

  const waitNode = (s: ClusterNodeSpec) =>
    waitReady({
      amqp: { host: '127.0.0.1', port: s.amqpPort },
      overviewUrl: `http://127.0.0.1:${s.managementPort}/api/overview`,
      user: defs.creds.adminUser,
      password: defs.creds.adminPassword,
      timeoutMs,
      died: () => s.hasExited,
      describe: describeNode(s),
    });

  const killNode = async (s: ClusterNodeSpec, graceMs: number) => {
    if (s.pgid === undefined || s.hasExited) return;
    killGroup(s.pgid, 'SIGTERM');
    await Promise.race([s.exited, sleep(graceMs)]);
    killGroup(s.pgid, 'SIGKILL');
    await Promise.race([s.exited, sleep(2000)]);
    liveGroups.delete(s.pgid);
  };

  const ctl = (i: number, ...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const s = specs[i]!;
      const p = spawn(ctlPath, ['-n', s.nodeName, ...args], { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (b: Buffer) => (text += b.toString()));
      p.stderr.on('data', (b: Buffer) => (text += b.toString()));
      p.once('error', reject);
      p.once('exit', (code) =>
        code === 0 ? resolve(text.trim()) : reject(new Error(`rabbitmqctl ${args.join(' ')} on ${s.nodeName} exited ${code}: ${text.trim()}`)),
      );
    });

  // Watchdogs kill each node (by its process group) if this process dies without exit hooks.
  const watchdogs: number[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(specs.map((s) => killNode(s, 10_000)));
    for (const pid of watchdogs) killGroup(pid, 'SIGKILL');
    if (process.env.KEEP_BROKER_DIR !== '1') rmSync(root, { recursive: true, force: true });
  };

  try {
    for (const s of specs) spawnNode(s);
    await Promise.all(specs.map(waitNode));
    const first = specs[0]!.nodeName;
    for (let i = 1; i < specs.length; i++) {
      await ctl(i, 'stop_app');
      await ctl(i, 'reset');
      await ctl(i, 'join_cluster', first);
      await ctl(i, 'start_app');
      await waitNode(specs[i]!);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const managementUrl = (s: ClusterNodeSpec) =>
    `http://${encodeURIComponent(defs.creds.adminUser)}:${encodeURIComponent(defs.creds.adminPassword)}@127.0.0.1:${s.managementPort}`;
  const nodes = specs.map((s) => ({
    nodeName: s.nodeName,
    amqpUrl: `amqp://127.0.0.1:${s.amqpPort}`,
    managementUrl: managementUrl(s),
    logFile: path.join(s.logDir, `${s.nodeName}.log`),
    get running() {
      return !s.hasExited;
    },
  }));
  return {
    version,
    nodes,
    managementUrls: nodes.map((n) => n.managementUrl),
    amqpUrls: nodes.map((n) => n.amqpUrl),
    ...defs.creds,
    ctl,
    async stopNode(i) {
      await killNode(specs[i]!, 30_000);
    },
    async startNode(i) {
      const s = specs[i]!;
      if (!s.hasExited) return;
      spawnNode(s);
      await waitNode(s);
    },
    stop,
  };
}
