// The deployment files must agree with each other: docker-compose.yml, rabbitmq.conf,
// definitions.json, enabled_plugins, Dockerfile, .dockerignore and the topology constants.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NEWER_SETTINGS } from '../scripts/rabbitmq-node.js';
import { brokerAdminUser, brokerServiceUser, brokerUserNames, parseBrokerUsers } from '../src/broker/definitions.js';
import { ADMIN_PERMISSIONS, EVENT_QUEUE_POLICY, servicePermissions, VCP_EXCHANGE } from '../src/broker/topology.js';
import { loadConfig } from '../src/config/index.js';
import { BROKER_VERSIONS } from './support/broker.js';

const read = (f: string) => readFileSync(new URL(`../${f}`, import.meta.url), 'utf8');

// --- rabbitmq.conf: `key = value` lines ------------------------------------------------
function parseConf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z0-9_.$-]+)\s*=\s*(.+)$/.exec(line);
    if (!m) throw new Error(`rabbitmq.conf: cannot parse line: ${raw}`);
    if (out.has(m[1]!)) throw new Error(`rabbitmq.conf: duplicate key ${m[1]}`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

// --- docker-compose.yml: the block-style subset it is written in -----------------------
type Yaml = string | Yaml[] | { [key: string]: Yaml };

function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, i) => ({ n: i + 1, indent: raw.length - raw.trimStart().length, body: raw.trim() }))
    .filter((l) => l.body !== '' && !l.body.startsWith('#'));
  let pos = 0;
  const scalar = (s: string, n: number): Yaml => {
    if (s.startsWith('[')) return JSON.parse(s) as Yaml; // flow lists are written as JSON
    if (/^[{&*|>]/.test(s)) throw new Error(`docker-compose.yml:${n}: unsupported YAML construct (keep block style)`);
    return s.replace(/^"(.*)"$|^'(.*)'$/, '$1$2');
  };
  const block = (indent: number): Yaml => {
    const isList = lines[pos]!.body.startsWith('- ');
    const list: Yaml[] = [];
    const map: Record<string, Yaml> = {};
    while (pos < lines.length && lines[pos]!.indent === indent) {
      const { body, n } = lines[pos]!;
      if (isList !== body.startsWith('- ')) throw new Error(`docker-compose.yml:${n}: mixed list and map`);
      pos++;
      if (isList) {
        list.push(scalar(body.slice(2).trim(), n));
        continue;
      }
      const m = /^([A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(body);
      if (!m) throw new Error(`docker-compose.yml:${n}: cannot parse: ${body}`);
      const next = lines[pos];
      map[m[1]!] = m[2] !== undefined ? scalar(m[2], n) : next && next.indent > indent ? block(next.indent) : '';
    }
    if (pos < lines.length && lines[pos]!.indent > indent) throw new Error(`docker-compose.yml:${lines[pos]!.n}: bad indentation`);
    return isList ? list : map;
  };
  return block(0);
}

const asMap = (y: Yaml | undefined, what: string): Record<string, Yaml> => {
  if (!y || typeof y !== 'object' || Array.isArray(y)) throw new Error(`docker-compose.yml: ${what} must be a mapping`);
  return y;
};
const asList = (y: Yaml | undefined): string[] => (Array.isArray(y) ? y.map(String) : []);
const str = (y: Yaml | undefined): string => (typeof y === 'string' ? y : '');

const conf = parseConf(read('rabbitmq.conf'));
const compose = asMap(parseYaml(read('docker-compose.yml')), 'top level');
const services = asMap(compose.services, 'services');
const definitions = JSON.parse(read('definitions.json')) as {
  users: { name: string; password?: string; tags: string[] }[];
  vhosts: { name: string }[];
  permissions: { user: string; vhost: string; configure: string; write: string; read: string }[];
  policies: { vhost: string; name: string; pattern: string; 'apply-to': string; priority: number; definition: unknown }[];
  exchanges: { name: string; vhost: string; type: string; durable: boolean; auto_delete: boolean }[];
  queues: unknown[];
};
const dockerfile = read('Dockerfile');

const service = (name: string) => asMap(services[name], `services.${name}`);
const env = (name: string) => asMap(service(name).environment, `services.${name}.environment`);
/** Compose interpolation with the defaults: `${VAR:-default}` → default. */
const withDefaults = (s: string) => s.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');
/** Container paths mounted from `source` (repo-relative) in a service. */
const mountsOf = (name: string) =>
  asList(service(name).volumes).map((v) => {
    const [source, target] = withDefaults(v).split(':');
    return { source: source!, target: target! };
  });
/** `host:container` port mappings of a service. */
const published = (name: string) =>
  asList(service(name).ports).map((p) => {
    const parts = p.split(':').map(Number);
    return { host: parts.at(-2)!, container: parts.at(-1)! };
  });

const AUTH_SERVICE = 'voke-auth';
const BROKER_SERVICE = 'rabbitmq';

describe('deployment files agree', () => {
  it('compose has the expected services', () => {
    expect(Object.keys(services).sort()).toEqual(['postgres', BROKER_SERVICE, AUTH_SERVICE].sort());
    expect(str(service('postgres').image)).toMatch(/^postgres:16\b/);
    expect(str(service(BROKER_SERVICE).image)).toMatch(/^rabbitmq:4\.3(\.\d+)?-management$/);
    expect(str(service(AUTH_SERVICE).build)).toBe('.');
  });

  it('compose runs the newest broker line the end-to-end tests cover, and definitions.json says so', () => {
    const line = /^rabbitmq:(\d+\.\d+)(?:\.\d+)?-management$/.exec(str(service(BROKER_SERVICE).image))?.[1];
    expect(line).toBe(BROKER_VERSIONS.at(-1));
    const defs = definitions as unknown as { rabbit_version: string; rabbitmq_version: string };
    expect(defs.rabbitmq_version.startsWith(`${line}.`)).toBe(true);
    expect(defs.rabbit_version).toBe(defs.rabbitmq_version);
  });

  it('rabbitmq.conf: internal backend first, then http by POST, no auth cache', () => {
    expect(conf.get('auth_backends.1')).toBe('internal');
    expect(conf.get('auth_backends.2')).toBe('http');
    expect([...conf.keys()].filter((k) => k.startsWith('auth_backends.'))).toHaveLength(2);
    expect(conf.get('auth_http.http_method')).toBe('post');
    expect([...conf.keys()].some((k) => k.startsWith('auth_cache.'))).toBe(false);
    for (const k of ['auth_http.connection_timeout', 'auth_http.request_timeout']) {
      expect(Number(conf.get(k)), k).toBeGreaterThan(0);
      expect(Number(conf.get(k)), k).toBeLessThanOrEqual(15_000);
    }
  });

  it('rabbitmq.conf lets refusal reasons reach clients (4.3+); its settings newer than a line are known to the harness', () => {
    expect(conf.get('auth_http.authorization_failure_disclosure')).toBe('true');
    expect(NEWER_SETTINGS['auth_http.authorization_failure_disclosure']).toBe('4.3');
    // The compose broker runs a line that knows every setting of the file.
    const line = /^rabbitmq:(\d+\.\d+)/.exec(str(service(BROKER_SERVICE).image))?.[1] as (typeof BROKER_VERSIONS)[number];
    for (const [key, since] of Object.entries(NEWER_SETTINGS)) {
      if (conf.has(key)) expect(BROKER_VERSIONS.indexOf(line), key).toBeGreaterThanOrEqual(BROKER_VERSIONS.indexOf(since));
    }
  });

  it('every auth_http path points at the compose voke-auth service on its AUTH_PORT', () => {
    const authPort = str(env(AUTH_SERVICE).AUTH_PORT);
    expect(authPort).toMatch(/^\d+$/);
    for (const p of ['user', 'vhost', 'resource', 'topic']) {
      const value = conf.get(`auth_http.${p}_path`);
      expect(value, p).toBeDefined();
      const u = new URL(value!);
      expect(u.protocol, p).toBe('http:');
      expect(u.hostname, p).toBe(AUTH_SERVICE);
      expect(u.port, p).toBe(authPort);
      expect(u.pathname, p).toBe(`/auth/${p}`);
    }
    // The auth port is internal: not published, and voke-auth listens on all interfaces.
    expect(published(AUTH_SERVICE).map((p) => p.container)).not.toContain(Number(authPort));
    expect(str(env(AUTH_SERVICE).HOST)).toBe('0.0.0.0');
  });

  it('compose mounts the repo broker files where rabbitmq.conf expects them', () => {
    const mounts = mountsOf(BROKER_SERVICE);
    const target = (source: string) => mounts.find((m) => m.source === source)?.target;
    expect(target('./rabbitmq.conf')).toBe('/etc/rabbitmq/rabbitmq.conf');
    expect(target('./definitions.json')).toBe(conf.get('load_definitions'));
    expect(target('./enabled_plugins')).toBe('/etc/rabbitmq/enabled_plugins');
    const certs = mounts.find((m) => m.source.includes('certs'));
    expect(certs).toBeDefined();
    for (const k of ['ssl_options.cacertfile', 'ssl_options.certfile', 'ssl_options.keyfile']) {
      expect(conf.get(k), k).toMatch(new RegExp(`^${certs!.target}/[^/]+$`));
    }
  });

  it('enabled_plugins: management and http backend, no auth cache, valid Erlang term', () => {
    const text = read('enabled_plugins').trim();
    expect(text).toMatch(/^\[[a-z0-9_,\s]*\]\.$/);
    const plugins = text
      .slice(1, -2)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .sort();
    expect(plugins).toEqual(['rabbitmq_auth_backend_http', 'rabbitmq_management']);
  });

  it('RABBITMQ_MANAGEMENT_URL and RABBITMQ_AMQP_URL match the broker service, its listeners and definitions users', () => {
    const mgmt = new URL(str(env(AUTH_SERVICE).RABBITMQ_MANAGEMENT_URL));
    expect(mgmt.hostname).toBe(BROKER_SERVICE);
    expect(mgmt.port).toBe(conf.get('management.tcp.port'));
    const user = decodeURIComponent(mgmt.username);
    expect(user).toBe(brokerAdminUser());
    const defUser = definitions.users.find((u) => u.name === user)!;
    expect(defUser.tags).toContain('administrator');
    // Dev passwords: compose and definitions.json must agree (production overrides both).
    expect(decodeURIComponent(mgmt.password)).toBe(defUser.password);

    const amqp = new URL(str(env(AUTH_SERVICE).RABBITMQ_AMQP_URL));
    expect(amqp.protocol).toBe('amqp:');
    expect(amqp.hostname).toBe(BROKER_SERVICE);
    expect(amqp.port).toBe(conf.get('listeners.tcp.default'));
  });

  it('only the admin port and the AMQPS listener are published', () => {
    const all = Object.keys(services).flatMap((s) => published(s).map((p) => `${s}:${p.container}`));
    expect(all.sort()).toEqual([`${AUTH_SERVICE}:${str(env(AUTH_SERVICE).ADMIN_PORT)}`, `${BROKER_SERVICE}:${conf.get('listeners.ssl.default')}`].sort());
    for (const s of Object.keys(services)) for (const p of published(s)) expect(p.host, s).toBe(p.container);
    expect(conf.get('listeners.ssl.default')).toBe('5671');
    expect(str(env(AUTH_SERVICE).PUBLIC_AMQP_PORT)).toBe(conf.get('listeners.ssl.default'));
    // TLS: no client certificates (partners authenticate with slug + key).
    expect(conf.get('ssl_options.verify')).toBe('verify_none');
    expect(conf.get('ssl_options.fail_if_no_peer_cert')).toBe('false');
  });

  it('secrets are required from the environment, not written in compose', () => {
    const e = env(AUTH_SERVICE);
    for (const k of ['API_KEY_PEPPER', 'SIGNING_KEY_ENCRYPTION_KEY', 'ADMIN_TOKENS']) {
      expect(str(e[k]), k).toMatch(new RegExp(`^\\$\\{${k}:\\?.+\\}$`));
    }
    expect(str(e.NODE_ENV)).toBe('production');
    expect(str(e.DATABASE_URL)).toMatch(/^postgres(ql)?:\/\/[^@]+@postgres:5432\//);
  });

  it('Dockerfile: HEALTHCHECK on ADMIN_PORT /healthz, non-root, ships definitions.json', () => {
    const hc = /^HEALTHCHECK\b[\s\S]*?(?<!\\)\n/m.exec(dockerfile)?.[0] ?? '';
    const m = /http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(hc);
    expect(m?.[1], 'HEALTHCHECK URL').toBe(str(env(AUTH_SERVICE).ADMIN_PORT));
    expect(dockerfile).toMatch(/^FROM node:20-slim\s*$/m);
    expect(dockerfile).toMatch(/^USER (?!root)\S+/m);
    expect(dockerfile).toMatch(/^COPY .*\bdefinitions\.json\b/m);
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const needed of ['src', 'migrations', 'definitions.json', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(ignored, needed).not.toContain(needed);
    }
  });

  it('definitions.json: users, legacy vhost topology and permissions match the code', () => {
    expect(parseBrokerUsers(definitions)).toHaveLength(2);
    expect(brokerUserNames()).toEqual(new Set([brokerAdminUser(), brokerServiceUser()]));
    expect(definitions.users.find((u) => u.name === brokerServiceUser())!.tags).toEqual([]);
    expect(definitions.vhosts.map((v) => v.name)).toEqual(['/']);
    expect(definitions.exchanges).toEqual([expect.objectContaining({ name: VCP_EXCHANGE, vhost: '/', type: 'topic', durable: true, auto_delete: false })]);
    expect(definitions.queues).toEqual([]); // legacy per-org queues are created by ops
    const perm = (user: string) => definitions.permissions.find((p) => p.user === user && p.vhost === '/');
    expect(perm(brokerAdminUser())).toMatchObject(ADMIN_PERMISSIONS);
    expect(perm(brokerServiceUser())).toMatchObject(servicePermissions());
  });

  it('definitions.json carries the same event-queue policy provisioning applies per vhost', () => {
    const p = EVENT_QUEUE_POLICY;
    expect(definitions.policies).toEqual([
      { vhost: '/', name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, priority: p.priority, definition: p.definition },
    ]);
    const re = new RegExp(p.pattern);
    for (const q of ['telemetry', 'alarm', 'status']) expect(re.test(`vcp.acme.event.${q}`), q).toBe(true);
    for (const q of ['command', 'schedule', 'config']) expect(re.test(`vcp.acme.${q}`), q).toBe(false);
  });

  it('the service user may consume partner-to-broker queues and publish to vcp only', () => {
    const p = servicePermissions('acme');
    expect(new RegExp(p.read).test('vcp.acme.command')).toBe(true);
    expect(new RegExp(p.read).test('vcp.acme.event.telemetry')).toBe(false);
    expect(new RegExp(p.read).test('vcp.acme2.command')).toBe(false);
    expect(new RegExp(p.write).test('vcp')).toBe(true);
    expect(new RegExp(p.write).test('amq.default')).toBe(false);
    expect(new RegExp(p.configure).test('vcp.acme.command')).toBe(false);
  });
});

// --- The broker auth cache profile (docs/operations.md, "Broker auth cache") ----------
const pluginsOf = (file: string) => {
  const text = read(file).trim();
  expect(text, file).toMatch(/^\[[a-z0-9_,\s]*\]\.$/);
  return text
    .slice(1, -2)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();
};

describe('the auth cache profile files agree with the default ones', () => {
  const cached = parseConf(read('rabbitmq.auth-cache.conf'));
  const overlay = asMap(parseYaml(read('deploy/docker-compose.auth-cache.yml')), 'deploy/docker-compose.auth-cache.yml');
  const overlayServices = asMap(overlay.services, 'overlay services');
  const PROFILE_KEYS = (k: string) => k === 'auth_backends.2' || k.startsWith('auth_cache.');

  it('rabbitmq.auth-cache.conf: the cache in front of http, refusals not cached, everything else as rabbitmq.conf', () => {
    expect(cached.get('auth_backends.1')).toBe('internal');
    expect(cached.get('auth_backends.2')).toBe('cache');
    expect([...cached.keys()].filter((k) => k.startsWith('auth_backends.'))).toHaveLength(2);
    expect(cached.get('auth_cache.cached_backend')).toBe('http');
    expect(cached.get('auth_cache.cache_refusals')).toBe('false');
    expect(cached.get('auth_cache.cache_ttl')).toMatch(/^[1-9]\d*$/);
    expect([...cached.keys()].filter((k) => k.startsWith('auth_cache.')).sort()).toEqual([
      'auth_cache.cache_refusals',
      'auth_cache.cache_ttl',
      'auth_cache.cached_backend',
    ]);
    const rest = (m: Map<string, string>) => [...m].filter(([k]) => !PROFILE_KEYS(k));
    expect(rest(cached)).toEqual(rest(conf));
  });

  it('enabled_plugins.auth-cache: the default plugins plus rabbitmq_auth_backend_cache', () => {
    expect(pluginsOf('enabled_plugins.auth-cache')).toEqual([...pluginsOf('enabled_plugins'), 'rabbitmq_auth_backend_cache'].sort());
  });

  it('deploy/docker-compose.auth-cache.yml swaps only the two broker files and tells voke-auth the same TTL', () => {
    expect(Object.keys(overlayServices).sort()).toEqual([BROKER_SERVICE, AUTH_SERVICE].sort());
    const broker = asMap(overlayServices[BROKER_SERVICE], 'overlay rabbitmq');
    expect(Object.keys(broker)).toEqual(['volumes']);
    const baseTargets = new Map(mountsOf(BROKER_SERVICE).map((m) => [m.source, m.target]));
    const swapped = asList(broker.volumes).map((v) => v.split(':'));
    expect(swapped.map(([source, target, mode]) => [source, target, mode])).toEqual([
      ['./rabbitmq.auth-cache.conf', baseTargets.get('./rabbitmq.conf'), 'ro'],
      ['./enabled_plugins.auth-cache', baseTargets.get('./enabled_plugins'), 'ro'],
    ]);
    // Compose resolves an overlay's relative paths against the first file's folder: the top one.
    for (const [source] of swapped) expect(existsSync(new URL(`../${source}`, import.meta.url)), source).toBe(true);
    const auth = asMap(overlayServices[AUTH_SERVICE], 'overlay voke-auth');
    expect(Object.keys(auth)).toEqual(['environment']);
    const overlayEnv = asMap(auth.environment, 'overlay voke-auth environment');
    expect(Object.keys(overlayEnv)).toEqual(['BROKER_AUTH_CACHE_TTL_MS']);
    expect(str(overlayEnv.BROKER_AUTH_CACHE_TTL_MS)).toBe(cached.get('auth_cache.cache_ttl'));
    // The default deployment says "no cache" explicitly.
    expect(str(env(AUTH_SERVICE).BROKER_AUTH_CACHE_TTL_MS)).toBe('0');
  });

  it('the service reads the overlay TTL as the broker has it', () => {
    const { config } = loadConfig({
      BROKER_AUTH_CACHE_TTL_MS: cached.get('auth_cache.cache_ttl'),
      API_KEY_PEPPER: 'p',
      SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'),
      ADMIN_TOKENS: 't',
      JWT_SECRET: 'j',
    });
    expect(config.brokerAuthCacheTtlMs).toBe(Number(cached.get('auth_cache.cache_ttl')));
  });
});

// --- The cluster deployment (docs/cluster.md) -------------------------------------------------
describe('the cluster files agree with the default ones', () => {
  const clusterConf = parseConf(read('rabbitmq.cluster.conf'));
  const cluster = asMap(parseYaml(read('docker-compose.cluster.yml')), 'docker-compose.cluster.yml');
  const clusterServices = asMap(cluster.services, 'cluster services');
  const cService = (name: string) => asMap(clusterServices[name], `cluster services.${name}`);
  const cEnv = (name: string) => asMap(cService(name).environment, `cluster services.${name}.environment`);
  const BROKERS = ['rabbitmq-1', 'rabbitmq-2', 'rabbitmq-3'];
  const INSTANCES = ['voke-auth-a', 'voke-auth-b'];
  const CLUSTER_KEYS = (k: string) => k.startsWith('cluster_formation.');

  it('compose has three broker nodes, two voke-auth instances and one database', () => {
    expect(Object.keys(clusterServices).sort()).toEqual(['postgres', ...BROKERS, ...INSTANCES].sort());
    expect(cService('postgres')).toEqual(service('postgres'));
  });

  it('rabbitmq.cluster.conf: rabbitmq.conf plus classic-config peer discovery naming the three compose nodes', () => {
    const rest = (m: Map<string, string>) => [...m].filter(([k]) => !CLUSTER_KEYS(k));
    expect(rest(clusterConf)).toEqual(rest(conf));
    expect(clusterConf.get('cluster_formation.peer_discovery_backend')).toBe('classic_config');
    const listed = [...clusterConf].filter(([k]) => k.startsWith('cluster_formation.classic_config.nodes.')).map(([, v]) => v);
    expect(listed.sort()).toEqual(BROKERS.map((b) => `rabbit@${str(cService(b).hostname)}`).sort());
  });

  it('every node: the newest tested line, its own hostname and volume, the cluster conf, one shared cookie', () => {
    const cookies = new Set<string>();
    for (const b of BROKERS) {
      const s = cService(b);
      expect(str(s.image), b).toBe(`rabbitmq:${BROKER_VERSIONS.at(-1)}-management`);
      expect(str(s.hostname), b).toBe(b);
      const mounts = asList(s.volumes).map((v) => withDefaults(v).split(':'));
      const target = (source: string) => mounts.find(([src]) => src === source)?.[1];
      expect(target('./rabbitmq.cluster.conf'), b).toBe('/etc/rabbitmq/rabbitmq.conf');
      expect(target('./definitions.json'), b).toBe(clusterConf.get('load_definitions'));
      expect(target('./enabled_plugins'), b).toBe('/etc/rabbitmq/enabled_plugins');
      expect(target(`${b}-data`), b).toBe('/var/lib/rabbitmq');
      const cookie = str(cEnv(b).RABBITMQ_ERLANG_COOKIE);
      expect(cookie, b).toMatch(/^\$\{RABBITMQ_ERLANG_COOKIE:\?.+\}$/);
      cookies.add(cookie);
      // Only each node's AMQPS listener is published.
      const ports = asList(s.ports).map((p) => p.split(':').map(Number));
      expect(
        ports.map((p) => p.at(-1)),
        b,
      ).toEqual([Number(clusterConf.get('listeners.ssl.default'))]);
    }
    expect(cookies.size).toBe(1);
  });

  it('both instances: every node in the management and AMQP lists, quorum queues, the auth_http alias, the rest as docker-compose.yml', () => {
    const authHost = new URL(clusterConf.get('auth_http.user_path')!).hostname;
    const authPort = new URL(clusterConf.get('auth_http.user_path')!).port;
    const single = env(AUTH_SERVICE);
    const CLUSTER_ENV = new Set(['RABBITMQ_MANAGEMENT_URL', 'RABBITMQ_AMQP_URL', 'BROKER_QUEUE_TYPE']);
    for (const i of INSTANCES) {
      const e = cEnv(i);
      const mgmt = str(e.RABBITMQ_MANAGEMENT_URL)
        .split(',')
        .map((u) => new URL(u));
      expect(mgmt.map((u) => u.hostname).sort(), i).toEqual(BROKERS);
      for (const u of mgmt) {
        expect(u.port, i).toBe(clusterConf.get('management.tcp.port'));
        expect(decodeURIComponent(u.username), i).toBe(brokerAdminUser());
        expect(decodeURIComponent(u.password), i).toBe(definitions.users.find((d) => d.name === brokerAdminUser())!.password);
      }
      const amqp = str(e.RABBITMQ_AMQP_URL)
        .split(',')
        .map((u) => new URL(u));
      expect(amqp.map((u) => `${u.protocol}${u.hostname}:${u.port}`).sort(), i).toEqual(
        BROKERS.map((b) => `amqp:${b}:${clusterConf.get('listeners.tcp.default')}`),
      );
      // The instance tries its lists in the same node order.
      expect(
        amqp.map((u) => u.hostname),
        i,
      ).toEqual(mgmt.map((u) => u.hostname));
      expect(str(e.BROKER_QUEUE_TYPE), i).toBe('quorum');
      expect(str(e.AUTH_PORT), i).toBe(authPort);
      const aliases = asList(asMap(asMap(cService(i).networks, 'networks').default, 'networks.default').aliases);
      expect(aliases, i).toEqual([authHost]);
      expect(str(cService(i).build), i).toBe('.');
      const rest = (m: Record<string, Yaml>) =>
        Object.entries(m)
          .filter(([k]) => !CLUSTER_ENV.has(k))
          .sort();
      expect(rest(e), i).toEqual(rest(single));
      // The service reads the lists as three nodes each.
      const { config } = loadConfig({
        ...Object.fromEntries(Object.entries(e).map(([k, v]) => [k, withDefaults(str(v))])),
        NODE_ENV: '',
        DATA_DIR: '/nonexistent',
        API_KEY_PEPPER: 'p',
        SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'),
        ADMIN_TOKENS: 't',
        JWT_SECRET: 'j',
      });
      expect(config.rabbitmqManagementUrls, i).toHaveLength(3);
      expect(config.rabbitmqAmqpUrls, i).toHaveLength(3);
      expect(config.brokerQueueType, i).toBe('quorum');
    }
    expect(new Set(INSTANCES.map((i) => asList(cService(i).ports)[0])).size).toBe(2);
  });
});

describe('the HTTPS-to-voke-auth variant (deploy/broker-tls) agrees with the default files', () => {
  const tlsConf = parseConf(read('deploy/broker-tls/rabbitmq.conf'));
  const advanced = read('deploy/broker-tls/advanced.config');
  const overlay = asMap(parseYaml(read('deploy/broker-tls/docker-compose.yml')), 'deploy/broker-tls/docker-compose.yml');
  const overlayServices = asMap(overlay.services, 'services');
  const mounts = (service: string) =>
    new Map(
      asList(asMap(overlayServices[service], service).volumes).map((v) => {
        const [source, target] = v.split(':').length > 3 ? [v.slice(0, v.indexOf('}') + 1), v.slice(v.indexOf('}') + 2).split(':')[0]] : v.split(':');
        return [target!, source!];
      }),
    );

  it('rabbitmq.conf: the four auth_http paths on https://, everything else as rabbitmq.conf', () => {
    const paths = ['user', 'vhost', 'resource', 'topic'].map((p) => `auth_http.${p}_path`);
    for (const key of paths) expect(tlsConf.get(key), key).toBe(conf.get(key)!.replace(/^http:/, 'https:'));
    const rest = (m: Map<string, string>) => [...m].filter(([k]) => !paths.includes(k));
    expect(rest(tlsConf)).toEqual(rest(conf));
    expect(tlsConf.has('auth_http.ssl_options.cacertfile')).toBe(false); // 3.10 refuses to boot with it
  });

  it('advanced.config: verify_peer, the broker client certificate and the CA, where the overlay mounts them', () => {
    const files = [...advanced.matchAll(/\{(cacertfile|certfile|keyfile), "([^"]+)"\}/g)].map((m) => [m[1], m[2]]);
    expect(files.map(([k]) => k)).toEqual(['cacertfile', 'certfile', 'keyfile']);
    expect(advanced).toMatch(/\{verify, verify_peer\}/);
    expect(advanced).toMatch(/\{rabbitmq_auth_backend_http, \[\s*\{ssl_options,/);
    const brokerMounts = mounts(BROKER_SERVICE);
    const certDir = [...brokerMounts.keys()].find((t) => files.every(([, f]) => f!.startsWith(`${t}/`)));
    expect(certDir, 'a mount holding the three files').toBeDefined();
    expect(brokerMounts.get('/etc/rabbitmq/rabbitmq.conf')).toBe('./deploy/broker-tls/rabbitmq.conf');
    expect(brokerMounts.get('/etc/rabbitmq/advanced.config')).toBe('./deploy/broker-tls/advanced.config');
  });

  it('the overlay gives voke-auth AUTH_TLS_* files from the folder the broker mounts, on its AUTH_PORT', () => {
    const authEnv = asMap(asMap(overlayServices[AUTH_SERVICE], AUTH_SERVICE).environment, 'environment');
    const authMounts = mounts(AUTH_SERVICE);
    const brokerMounts = mounts(BROKER_SERVICE);
    const [authDir, authSource] = [...authMounts][0]!;
    expect(authSource).toBe([...brokerMounts].find(([t]) => t === '/etc/rabbitmq/auth-tls')?.[1]);
    for (const k of ['AUTH_TLS_CERT', 'AUTH_TLS_KEY', 'AUTH_TLS_CA']) expect(str(authEnv[k]), k).toMatch(new RegExp(`^${authDir}/[\\w.-]+\\.pem$`));
    // The broker's CA file is the one voke-auth trusts for clients and signs its own certificate with.
    expect(advanced).toContain(`"/etc/rabbitmq/auth-tls/${str(authEnv.AUTH_TLS_CA).split('/').pop()}"`);
    // The auth URL's port is the service's AUTH_PORT.
    expect(new URL(tlsConf.get('auth_http.user_path')!).port).toBe(str(env(AUTH_SERVICE).AUTH_PORT));
  });
});
