// A private RabbitMQ node on this machine, configured from the repo's rabbitmq.conf,
// definitions.json and enabled_plugins: where each release line's server lives, how the repo's
// files are rewritten for a node of our own (ports, addresses, the auth backend's URL, file
// paths), the environment that keeps the node out of the system's /var/lib/rabbitmq, and how to
// tell that it is ready. Used by the tests (test/support/broker.ts) and by `npm run broker`
// (scripts/broker.ts).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../', import.meta.url));
export const REPO_CONF = path.join(REPO, 'rabbitmq.conf');
export const REPO_DEFINITIONS = path.join(REPO, 'definitions.json');
export const REPO_PLUGINS = path.join(REPO, 'enabled_plugins');
// The opt-in auth cache profile (docs/operations.md, "Broker auth cache").
export const REPO_CONF_AUTH_CACHE = path.join(REPO, 'rabbitmq.auth-cache.conf');
export const REPO_PLUGINS_AUTH_CACHE = path.join(REPO, 'enabled_plugins.auth-cache');

// ---------------------------------------------------------------------------------------
// Release lines: 3.10 from the machine's Debian 12 package, 4.0 and 4.3 from the folders that
// scripts/rabbitmq-tree.sh unpacks from Debian 13 and Debian unstable packages.

export type BrokerVersion = '3.10' | '4.0' | '4.3';
export const BROKER_VERSIONS: readonly BrokerVersion[] = ['3.10', '4.0', '4.3'];

export interface LocalInstall {
  /** The rabbitmq-server script that starts a node in the foreground (not the /usr/sbin wrapper). */
  readonly server: string;
  /** Put first on PATH (the unpacked Erlang of a 4.x folder); undefined: the system's erl. */
  readonly erlangBin?: string;
  /** What to do when it is missing. */
  readonly hint: string;
  /** Builds the install when it is missing (command and arguments, run once before giving up). */
  readonly build?: readonly string[];
}

/** Where scripts/rabbitmq-tree.sh keeps its folders (shared by clones that set it alike). */
export const RABBITMQ_CACHE_DIR = process.env.RABBITMQ_CACHE_DIR ?? path.join(REPO, '.cache');
function unpackedTree(line: '4.0' | '4.3'): LocalInstall {
  const home = path.join(RABBITMQ_CACHE_DIR, `rabbitmq-${line}`);
  return {
    server: path.join(home, 'usr/lib/rabbitmq/bin/rabbitmq-server'),
    erlangBin: path.join(home, 'usr/lib/erlang/bin'),
    hint: `run scripts/rabbitmq-tree.sh ${line}`,
    build: [path.join(REPO, 'scripts', 'rabbitmq-tree.sh'), line],
  };
}
export const LOCAL_INSTALLS: Record<BrokerVersion, LocalInstall> = {
  '3.10': {
    server: process.env.RABBITMQ_SERVER_BIN ?? '/usr/lib/rabbitmq/bin/rabbitmq-server',
    hint: 'apt-get install rabbitmq-server (Debian 12)',
  },
  '4.0': unpackedTree('4.0'),
  '4.3': unpackedTree('4.3'),
};

/** The full version of a local install, read from its lib/rabbitmq_server-<version> folder. */
export function installedVersion(version: BrokerVersion): string | undefined {
  try {
    const lib = path.join(path.dirname(LOCAL_INSTALLS[version].server), '..', 'lib');
    const dir = readdirSync(lib).find((d) => d.startsWith('rabbitmq_server-'));
    return dir?.slice('rabbitmq_server-'.length);
  } catch {
    return undefined;
  }
}

export function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a node of this line can start here from a local install, building a 4.x folder when
 * it is missing (~15-30 s once, from the Debian mirror). `reason` says why not.
 */
export function prepareLocalInstall(version: BrokerVersion): { ok: true } | { ok: false; reason: string } {
  const install = LOCAL_INSTALLS[version];
  if (!executable(install.server) && install.build) {
    const [cmd, ...args] = install.build;
    const built = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 300_000 });
    if (built.status !== 0) {
      const why = (built.stderr || built.error?.message || '').trim().split('\n').slice(-3).join(' | ');
      return { ok: false, reason: `RabbitMQ ${version}: ${install.build.join(' ')} failed: ${why}` };
    }
  }
  if (!executable(install.server)) return { ok: false, reason: `RabbitMQ ${version}: ${install.server} is missing (${install.hint})` };
  const erl = install.erlangBin ? path.join(install.erlangBin, 'erl') : 'erl';
  if (spawnSync('sh', ['-c', `command -v '${erl}'`], { stdio: 'ignore' }).status !== 0) {
    return { ok: false, reason: `RabbitMQ ${version}: ${install.server} is there but ${erl} is not` };
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------
// The repo's files, rewritten for a node of our own

export interface RenderConfigInput {
  /** Bind listeners to this address (local mode); container mode listens on all. */
  readonly bindHost?: string;
  readonly amqpPort: number;
  /** Omit to drop the TLS listener and ssl_options. */
  readonly amqpsPort?: number;
  readonly managementPort: number;
  readonly authBaseUrl: string;
  readonly definitionsPath: string;
  readonly certDir?: string;
  /** Replaces auth_cache.cache_ttl (the auth cache profile's file only has it). */
  readonly authCacheTtlMs?: number;
  /** The line the node runs: settings newer than it are left out (NEWER_SETTINGS). Default: the newest. */
  readonly version?: BrokerVersion;
}

/**
 * rabbitmq.conf settings a line before the one named does not know: such a node refuses to boot
 * with them, so they are left out there (docs/broker-versions.md says the same to ops).
 */
export const NEWER_SETTINGS: Readonly<Record<string, BrokerVersion>> = {
  // Lets the reason of a `deny <reason>` answer reach the client (4.3.0 and later).
  'auth_http.authorization_failure_disclosure': '4.3',
};

function lineAtLeast(version: BrokerVersion, line: BrokerVersion): boolean {
  return BROKER_VERSIONS.indexOf(version) >= BROKER_VERSIONS.indexOf(line);
}

const CERT_FILES: Record<string, string> = {
  'ssl_options.cacertfile': 'ca.pem',
  'ssl_options.certfile': 'server.pem',
  'ssl_options.keyfile': 'server-key.pem',
};

/** Rewrites the repo's rabbitmq.conf for a node of our own; throws if an expected setting is missing. */
export function renderBrokerConfig(conf: string, o: RenderConfigInput): string {
  const listen = (port: number) => (o.bindHost ? `${o.bindHost}:${port}` : String(port));
  const authBase = o.authBaseUrl.replace(/\/+$/, '');
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of conf.split('\n')) {
    const m = /^\s*([A-Za-z0-9_.$-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    const [, key, value] = m as unknown as [string, string, string];
    const since = NEWER_SETTINGS[key];
    if (since !== undefined && o.version !== undefined && !lineAtLeast(o.version, since)) continue;
    const set = (v: string) => {
      seen.add(key);
      out.push(`${key} = ${v}`);
    };
    if (key.startsWith('listeners.tcp.')) set(listen(o.amqpPort));
    else if (key.startsWith('listeners.ssl.')) {
      if (o.amqpsPort !== undefined) set(listen(o.amqpsPort));
    } else if (key.startsWith('ssl_options.')) {
      if (o.amqpsPort === undefined) continue;
      const file = CERT_FILES[key];
      if (file) {
        if (!o.certDir) throw new Error('renderBrokerConfig: TLS needs certDir');
        set(path.join(o.certDir, file));
      } else set(value);
    } else if (key === 'management.tcp.port') set(String(o.managementPort));
    else if (key === 'management.tcp.ip') continue;
    else if (/^auth_http\.\w+_path$/.test(key)) {
      // The file's scheme (http, or https in the TLS variant), the given host and port.
      const url = new URL(value);
      set(authBase.replace(/^https?:/, url.protocol) + url.pathname);
    } else if (key === 'load_definitions' || key === 'definitions.local.path') set(o.definitionsPath);
    else if (key === 'auth_cache.cache_ttl' && o.authCacheTtlMs !== undefined) set(String(o.authCacheTtlMs));
    else set(value);
  }
  if (o.bindHost) out.push(`management.tcp.ip = ${o.bindHost}`);
  const required = [
    'listeners.tcp.default',
    'management.tcp.port',
    'load_definitions',
    ...['user', 'vhost', 'resource', 'topic'].map((p) => `auth_http.${p}_path`),
  ];
  if (o.amqpsPort !== undefined) required.push('listeners.ssl.default', ...Object.keys(CERT_FILES));
  if (o.authCacheTtlMs !== undefined) required.push('auth_cache.cache_ttl');
  const missing = required.filter((k) => !seen.has(k));
  if (missing.length) throw new Error(`rabbitmq.conf lacks settings the harness rewrites: ${missing.join(', ')}`);
  const rendered = out.join('\n');
  if (/voke-auth:\d+/.test(rendered)) throw new Error('rabbitmq.conf: an auth URL to voke-auth was not rewritten');
  return rendered;
}

export interface Credentials {
  adminUser: string;
  adminPassword: string;
  serviceUser: string;
  servicePassword: string;
}

/**
 * The repo's definitions.json for a node of our own: with fresh random passwords (tests), or
 * with the file's own development passwords (`keepPasswords`, the local broker), in which case
 * a user given by hash only gets a random password.
 */
export function renderDefinitions(options: { keepPasswords?: boolean } = {}): { json: string; creds: Credentials } {
  const doc = JSON.parse(readFileSync(REPO_DEFINITIONS, 'utf8')) as {
    users: { name: string; tags: string[] | string; password?: string; password_hash?: string }[];
  };
  const tagsOf = (u: { tags: string[] | string }) => (Array.isArray(u.tags) ? u.tags : u.tags.split(',').filter(Boolean));
  const admin = doc.users.find((u) => tagsOf(u).includes('administrator'));
  const service = doc.users.find((u) => tagsOf(u).length === 0);
  if (!admin || !service) throw new Error('definitions.json needs an administrator user and an untagged service user');
  for (const u of doc.users) {
    const kept = options.keepPasswords && u.password !== undefined ? u.password : undefined;
    delete u.password_hash;
    u.password = kept ?? randomBytes(12).toString('hex');
  }
  const creds: Credentials = { adminUser: admin.name, adminPassword: admin.password!, serviceUser: service.name, servicePassword: service.password! };
  return { json: JSON.stringify(doc, null, 2), creds };
}

// ---------------------------------------------------------------------------------------
// Running it

export interface NodeFiles {
  /** The node's private HOME (its Erlang cookie). */
  home: string;
  mnesia: string;
  logDir: string;
  confPath: string;
  pluginsPath: string;
  /** An empty rabbitmq-env.conf, so the system's /etc/rabbitmq/rabbitmq-env.conf is not read. */
  envFile: string;
  /** Need not exist. */
  advancedConfigPath: string;
}

/**
 * The environment of a private node: this process's, without any RABBITMQ_* setting, plus the
 * node's own name, distribution port, files and folders, so that it never touches the system's
 * node or /var/lib/rabbitmq. A 4.x folder's Erlang comes first on PATH.
 */
/** A node's own folders under `dir`, created: HOME (Erlang cookie), database, logs. */
export function nodeFolders(dir: string): { home: string; mnesia: string; logDir: string } {
  const folder = (name: string) => {
    const p = path.join(dir, name);
    mkdirSync(p, { recursive: true });
    return p;
  };
  return { home: folder('home'), mnesia: folder('mnesia'), logDir: folder('log') };
}

export function nodeEnvironment(install: LocalInstall, nodeName: string, distPort: number, files: NodeFiles): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RABBITMQ_')) env[k] = v;
  Object.assign(env, {
    HOME: files.home,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: files.confPath,
    RABBITMQ_ADVANCED_CONFIG_FILE: files.advancedConfigPath,
    RABBITMQ_CONF_ENV_FILE: files.envFile,
    RABBITMQ_ENABLED_PLUGINS_FILE: files.pluginsPath,
    RABBITMQ_MNESIA_BASE: files.mnesia,
    RABBITMQ_LOG_BASE: files.logDir,
    // No busy-waiting schedulers: a developer machine (and CI) shares its cores.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '+sbwt none +sbwtdcpu none +sbwtdio none',
  });
  // A 4.x folder's Erlang (27, 29) must win over the system's Erlang 25 (3.10 uses the system's).
  if (install.erlangBin) env.PATH = `${install.erlangBin}:${env.PATH ?? ''}`;
  return env;
}

/** Waits for the AMQP port, then for the management API to answer the admin user. */
export async function waitReady(o: {
  amqp: { host: string; port: number };
  overviewUrl: string;
  user: string;
  password: string;
  timeoutMs: number;
  died: () => boolean;
  describe: () => string;
}): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  const auth = `Basic ${Buffer.from(`${o.user}:${o.password}`).toString('base64')}`;
  let stage = 'AMQP port';
  while (Date.now() < deadline) {
    if (o.died()) throw new Error(`RabbitMQ exited during boot (waiting for ${stage})\n${o.describe()}`);
    if (stage === 'AMQP port') {
      if (await tcpOpen(o.amqp.host, o.amqp.port)) stage = 'management API';
    } else {
      try {
        const res = await fetch(o.overviewUrl, { headers: { authorization: auth }, signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        /* not yet */
      }
    }
    await sleep(250);
  }
  throw new Error(`RabbitMQ not ready after ${o.timeoutMs} ms (waiting for ${stage})\n${o.describe()}`);
}

export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The last lines of a log file, or a note that there is none. */
export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${path.basename(file)})`;
  }
}
