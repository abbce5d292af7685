import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_MAX_CONNECTIONS } from '../http/auth/server.js';
import { type AuthTlsFiles, readTlsFiles } from '../http/auth/tls.js';
import { parseTrustedProxies, type TrustedProxies } from '../policy/rest.js';

/** Everything the service reads from its environment (docs/operations.md, "Configuration"). */
export interface Config {
  production: boolean;
  databaseUrl: string | undefined; // undefined → embedded PostgreSQL in dataDir
  dataDir: string;
  host: string;
  authPort: number;
  adminPort: number;
  /** HMAC peppers, current first. */
  peppers: Buffer[];
  adminTokens: string[];
  jwtSecret: string | undefined;
  signingKeyEncryptionKey: Buffer; // 32 bytes
  /** undefined when unset or BROKER_PROVISIONING=off: no provisioning, self-test "skipped". The first of rabbitmqManagementUrls. */
  rabbitmqManagementUrl: string | undefined;
  /** The first of rabbitmqAmqpUrls. */
  rabbitmqAmqpUrl: string | undefined;
  /**
   * RABBITMQ_MANAGEMENT_URL as a list: the management APIs of one cluster's nodes, tried in turn
   * (src/broker/nodes.ts). Empty when no broker is configured.
   */
  rabbitmqManagementUrls: string[];
  /** RABBITMQ_AMQP_URL as a list (derived: each management host on port 5672): where probes connect, tried in turn. */
  rabbitmqAmqpUrls: string[];
  /** BROKER_QUEUE_TYPE: the type of the partner queues provisioned from now on. */
  brokerQueueType: QueueType;
  publicAmqpHost: string;
  publicAmqpPort: number;
  logLevel: string;
  /**
   * The broker's auth cache TTL (rabbitmq.auth-cache.conf's auth_cache.cache_ttl), 0 when the
   * broker runs without the cache. The service cannot see the broker's config: keep them equal.
   */
  brokerAuthCacheTtlMs: number;
  /** AUTH_MISS_LOOKUPS_PER_SECOND: database lookups per second for keys not in the key table. */
  missLookupsPerSecond: number;
  /**
   * TRUSTED_PROXIES: the ranges (CIDRs or addresses) whose X-Forwarded-For / X-Real-IP REST
   * forward auth believes; empty: the peer address is the client.
   */
  trustedProxies: TrustedProxies;
  /** VERIFY_TOKENS: bearer tokens that may call POST /api/v1/keys/verify and nothing else. */
  verifyTokens: string[];
  /** AUTH_TLS_CERT, AUTH_TLS_KEY, AUTH_TLS_CA: the auth listener speaks HTTPS; undefined → plain HTTP. */
  authTls: AuthTlsFiles | undefined;
  /** AUTH_MAX_CONNECTIONS: connections the auth listener holds at once. */
  authMaxConnections: number;
  /**
   * AUTH_DENY_REASONS: `auto` (default) answers vhost/resource/topic refusals `deny <reason>`
   * while the broker's management API reports RabbitMQ 4.3.0 or later (asked at start and every
   * minute; never with BROKER_PROVISIONING=off); `off` always answers a plain `deny`. Login
   * refusals are always plain. Before 4.3 a reason crashes the broker's handler for that
   * connection, which is why `on` does not exist: the version decides (docs/broker-versions.md).
   */
  denyReasons: 'auto' | 'off';
}

export class ConfigError extends Error {}

export type QueueType = 'classic' | 'quorum';
/** BROKER_QUEUE_TYPE when unset (docs/cluster.md says why). */
export const DEFAULT_QUEUE_TYPE: QueueType = 'quorum';

/** Secrets generated for local runs, kept in DATA_DIR so they survive restarts. */
type LocalSecrets = z.output<typeof LocalSecretsFile>;

export interface LoadedConfig {
  config: Config;
  /** Human-readable warnings to log once at start (generated secrets etc.). */
  warnings: string[];
}

/** An unset and an empty variable mean the same: not set. */
const optional = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const port = (name: string, fallback: number) =>
  optional.transform((raw, ctx) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 0 && n <= 65535) return n;
    ctx.addIssue({ code: 'custom', message: `${name} must be a port number, got "${raw}"` });
    return z.NEVER;
  });

/** Milliseconds, a non-negative integer; unset or empty → 0. */
const millis = (name: string) =>
  optional.transform((raw, ctx) => {
    if (raw === undefined) return 0;
    const n = Number(raw);
    if (/^\d+$/.test(raw) && Number.isSafeInteger(n)) return n;
    ctx.addIssue({ code: 'custom', message: `${name} must be a whole number of milliseconds (0 or unset: no broker auth cache), got "${raw}"` });
    return z.NEVER;
  });

/** A whole number in [min, max]; unset or empty → fallback. */
const wholeNumber = (name: string, fallback: number, min: number, max: number) =>
  optional.transform((raw, ctx) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (/^\d+$/.test(raw) && n >= min && n <= max) return n;
    ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}, got "${raw}"` });
    return z.NEVER;
  });

/** Comma-separated, blanks dropped. */
const list = optional.transform((raw) =>
  (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/**
 * A comma-separated list of URLs (the nodes of one cluster); unset or empty → undefined. Each
 * must parse and use one of `protocols`; the message names the position, never the URL (it may
 * carry a password).
 */
const urlList = (name: string, protocols: readonly string[]) =>
  optional.transform((raw, ctx) => {
    if (raw === undefined) return undefined;
    const urls = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (urls.length === 0) return undefined;
    for (const [i, u] of urls.entries()) {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${name}: entry ${i + 1} of ${urls.length} is not a valid URL` });
        return z.NEVER;
      }
      if (!protocols.includes(parsed.protocol)) {
        ctx.addIssue({
          code: 'custom',
          message: `${name}: entry ${i + 1} of ${urls.length} must start with ${protocols.map((p) => `${p}//`).join(' or ')} (got ${parsed.protocol})`,
        });
        return z.NEVER;
      }
    }
    return urls;
  });

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$|^[A-Za-z0-9_-]*$/;

const EncryptionKey = z.string().transform((raw, ctx) => {
  const key = Buffer.from(raw, 'base64');
  if (BASE64.test(raw) && key.length === 32) return key;
  ctx.addIssue({ code: 'custom', message: 'SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes, base64-encoded' });
  return z.NEVER;
});

const PRODUCTION_REQUIRES = ['API_KEY_PEPPER', 'SIGNING_KEY_ENCRYPTION_KEY', 'DATABASE_URL'] as const;

export const NODE_ENVS = ['production', 'development', 'test'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * A production secret must look like one: at least 32 characters (`openssl rand -base64 32`
 * gives 44) drawn from at least 10 different characters, which a random string of that length
 * always has and `changeme…`, `aaaa…` or `secret-secret-…` do not. Why these numbers:
 * docs/decisions.md, "Weak production secrets".
 */
export const MIN_SECRET_LENGTH = 32;
export const MIN_SECRET_DISTINCT = 10;
export function weakSecret(value: string): boolean {
  return value.length < MIN_SECRET_LENGTH || new Set(value).size < MIN_SECRET_DISTINCT;
}

/** The environment, parsed once; the first issue's message is the ConfigError's. */
const Env = z
  .object({
    NODE_ENV: optional.pipe(z.enum(NODE_ENVS, { error: (i) => `NODE_ENV must be one of ${NODE_ENVS.join(', ')}, got "${String(i.input)}"` }).optional()),
    DATABASE_URL: optional,
    DATA_DIR: optional,
    HOST: optional,
    AUTH_PORT: port('AUTH_PORT', 8080),
    ADMIN_PORT: port('ADMIN_PORT', 8081),
    API_KEY_PEPPER: list,
    SIGNING_KEY_ENCRYPTION_KEY: optional.pipe(EncryptionKey.optional()),
    ADMIN_TOKENS: list,
    JWT_SECRET: optional,
    RABBITMQ_MANAGEMENT_URL: urlList('RABBITMQ_MANAGEMENT_URL', ['http:', 'https:']),
    RABBITMQ_AMQP_URL: urlList('RABBITMQ_AMQP_URL', ['amqp:', 'amqps:']),
    BROKER_QUEUE_TYPE: optional.pipe(z.enum(['classic', 'quorum'], { error: 'BROKER_QUEUE_TYPE must be "classic" or "quorum"' }).optional()),
    PUBLIC_AMQP_HOST: optional,
    PUBLIC_AMQP_PORT: port('PUBLIC_AMQP_PORT', 5671),
    LOG_LEVEL: optional.pipe(z.enum(LOG_LEVELS, { error: (i) => `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${String(i.input)}"` }).optional()),
    BROKER_PROVISIONING: optional.pipe(z.enum(['on', 'off'], { error: 'BROKER_PROVISIONING must be "on" or "off"' }).optional()),
    BROKER_AUTH_CACHE_TTL_MS: millis('BROKER_AUTH_CACHE_TTL_MS'),
    AUTH_MISS_LOOKUPS_PER_SECOND: wholeNumber('AUTH_MISS_LOOKUPS_PER_SECOND', 50, 1, 100_000),
    TRUSTED_PROXIES: list.transform((entries, ctx) => {
      const proxies = parseTrustedProxies(entries);
      if (proxies !== undefined) return proxies;
      ctx.addIssue({ code: 'custom', message: `TRUSTED_PROXIES must be comma-separated IPv4/IPv6 addresses or CIDR ranges, got "${entries.join(',')}"` });
      return z.NEVER;
    }),
    VERIFY_TOKENS: list,
    AUTH_MAX_CONNECTIONS: wholeNumber('AUTH_MAX_CONNECTIONS', DEFAULT_MAX_CONNECTIONS, 1, 1_000_000),
    AUTH_TLS_CERT: optional,
    AUTH_TLS_KEY: optional,
    AUTH_TLS_CA: optional,
    AUTH_DENY_REASONS: optional.pipe(z.enum(['auto', 'off'], { error: 'AUTH_DENY_REASONS must be "auto" or "off"' }).optional()),
  })
  .superRefine((env, ctx) => {
    // Certificate files: both or neither, a CA only with them; every file readable and usable.
    const { AUTH_TLS_CERT: cert, AUTH_TLS_KEY: key, AUTH_TLS_CA: ca } = env;
    if (cert === undefined && key === undefined) {
      if (ca !== undefined) ctx.addIssue({ code: 'custom', message: "AUTH_TLS_CA needs AUTH_TLS_CERT and AUTH_TLS_KEY (the listener's own certificate)" });
      return;
    }
    if (cert === undefined || key === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${cert === undefined ? 'AUTH_TLS_KEY' : 'AUTH_TLS_CERT'} is set without ${cert === undefined ? 'AUTH_TLS_CERT' : 'AUTH_TLS_KEY'}: set both (HTTPS) or neither (HTTP)`,
      });
      return;
    }
    try {
      readTlsFiles({ cert, key, ca });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV !== 'production') return;
    const missing = PRODUCTION_REQUIRES.filter((n) => (n === 'API_KEY_PEPPER' ? env[n].length === 0 : env[n] === undefined));
    if (missing.length > 0)
      ctx.addIssue({ code: 'custom', message: `NODE_ENV=production requires ${missing.join(', ')} (see docs/operations.md, Configuration)` });
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV !== 'production') return;
    const weak = (name: string, values: string[]) => {
      const i = values.findIndex(weakSecret);
      if (i === -1) return;
      const which = values.length > 1 ? ` (entry ${i + 1})` : '';
      ctx.addIssue({
        code: 'custom',
        message: `NODE_ENV=production refuses a weak ${name}${which}: use at least ${MIN_SECRET_LENGTH} random characters, e.g. openssl rand -base64 32`,
      });
    };
    weak('API_KEY_PEPPER', env.API_KEY_PEPPER);
    weak('ADMIN_TOKENS', env.ADMIN_TOKENS);
    weak('VERIFY_TOKENS', env.VERIFY_TOKENS);
    if (env.JWT_SECRET !== undefined) weak('JWT_SECRET', [env.JWT_SECRET]);
  })
  .superRefine((env, ctx) => {
    // Without the management API no vhost is provisioned, yet a mint would hand out a URI for
    // it: production needs it, unless the operator opts out on purpose.
    if (env.RABBITMQ_MANAGEMENT_URL !== undefined || env.BROKER_PROVISIONING === 'off') return;
    if (env.NODE_ENV === 'production' || env.BROKER_PROVISIONING === 'on') {
      const why = env.BROKER_PROVISIONING === 'on' ? 'BROKER_PROVISIONING=on' : 'NODE_ENV=production';
      ctx.addIssue({
        code: 'custom',
        message: `${why} requires RABBITMQ_MANAGEMENT_URL (or BROKER_PROVISIONING=off to run without broker provisioning on purpose; see docs/operations.md, Configuration)`,
      });
    }
  })
  .transform((env) =>
    // BROKER_PROVISIONING=off: the management URL is not used at all (loadConfig warns).
    env.BROKER_PROVISIONING === 'off'
      ? { ...env, ignoredManagementUrl: env.RABBITMQ_MANAGEMENT_URL !== undefined, RABBITMQ_MANAGEMENT_URL: undefined }
      : { ...env, ignoredManagementUrl: false },
  )
  .transform((env) => {
    // Probes connect where the management APIs live, on the plain AMQP port.
    if (env.RABBITMQ_AMQP_URL !== undefined || env.RABBITMQ_MANAGEMENT_URL === undefined) return env;
    const hosts = env.RABBITMQ_MANAGEMENT_URL.map((u) => new URL(u).hostname);
    return { ...env, RABBITMQ_AMQP_URL: [...new Set(hosts)].map((h) => `amqp://${h}:5672`) };
  });

const LocalSecretsFile = z.object({
  apiKeyPepper: z.string(),
  signingKeyEncryptionKey: z.string(),
  adminToken: z.string(),
  jwtSecret: z.string(),
});

/** The file holds secrets: a broken one is named, never quoted (JSON.parse errors quote the text). */
function readLocalSecrets(file: string): LocalSecrets {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    parsed = undefined;
  }
  const record = LocalSecretsFile.safeParse(parsed);
  if (!record.success) throw new ConfigError(`${file} is unreadable or incomplete; remove it to generate new local secrets`);
  return record.data;
}

function loadOrCreateLocalSecrets(dataDir: string): { secrets: LocalSecrets; created: boolean } {
  const file = join(dataDir, 'local-secrets.json');
  if (existsSync(file)) return { secrets: readLocalSecrets(file), created: false };
  mkdirSync(dataDir, { recursive: true });
  const secrets: LocalSecrets = {
    apiKeyPepper: randomBytes(32).toString('base64url'),
    signingKeyEncryptionKey: randomBytes(32).toString('base64'),
    adminToken: `vadm_${randomBytes(24).toString('base64url')}`,
    jwtSecret: randomBytes(32).toString('base64url'),
  };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return { secrets, created: true };
}

/** The environment, validated, before anything is written (local secrets are not generated yet). */
export type Environment = z.output<typeof Env>;

/** Where the service will bind and keep its state: known before anything is started or written. */
export interface Placement {
  host: string;
  authPort: number;
  adminPort: number;
  dataDir: string;
  /** No DATABASE_URL: the embedded PostgreSQL lives in dataDir. */
  embeddedDatabase: boolean;
}

export function parseEnvironment(raw: NodeJS.ProcessEnv = process.env): Environment {
  const parsed = Env.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues[0]!.message);
  return parsed.data;
}

export function placementOf(env: Environment): Placement {
  return {
    host: env.HOST ?? '127.0.0.1',
    authPort: env.AUTH_PORT,
    adminPort: env.ADMIN_PORT,
    dataDir: resolve(env.DATA_DIR ?? './.data'),
    embeddedDatabase: env.DATABASE_URL === undefined,
  };
}

export function loadConfig(raw: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return resolveConfig(parseEnvironment(raw));
}

/** The configuration, with local secrets generated into DATA_DIR where missing (outside production). */
export function resolveConfig(env: Environment): LoadedConfig {
  const production = env.NODE_ENV === 'production';
  const dataDir = resolve(env.DATA_DIR ?? './.data');
  const warnings: string[] = [];
  if (env.ignoredManagementUrl) {
    warnings.push(
      "BROKER_PROVISIONING=off: RABBITMQ_MANAGEMENT_URL is ignored (no vhosts provisioned, self-test skipped, revoked keys' connections not closed by the service)",
    );
  }

  let peppers = env.API_KEY_PEPPER;
  let encryptionKey = env.SIGNING_KEY_ENCRYPTION_KEY;
  let adminTokens = env.ADMIN_TOKENS;
  let jwtSecret = env.JWT_SECRET;

  if (!production && (peppers.length === 0 || !encryptionKey || adminTokens.length === 0 || !jwtSecret)) {
    const { secrets, created } = loadOrCreateLocalSecrets(dataDir);
    const used: string[] = [];
    if (peppers.length === 0) {
      peppers = [secrets.apiKeyPepper];
      used.push('API_KEY_PEPPER');
    }
    if (!encryptionKey) {
      encryptionKey = parseOrThrow(EncryptionKey, secrets.signingKeyEncryptionKey);
      used.push('SIGNING_KEY_ENCRYPTION_KEY');
    }
    if (adminTokens.length === 0) {
      adminTokens = [secrets.adminToken];
      used.push('ADMIN_TOKENS');
    }
    if (!jwtSecret) {
      jwtSecret = secrets.jwtSecret;
      used.push('JWT_SECRET');
    }
    warnings.push(
      `${created ? 'generated' : 'using'} local secrets for ${used.join(', ')} in ${join(dataDir, 'local-secrets.json')} ` +
        `(not for production; the admin token is the "adminToken" field of that file)`,
    );
  }

  const config: Config = {
    production,
    databaseUrl: env.DATABASE_URL,
    dataDir,
    host: env.HOST ?? '127.0.0.1',
    authPort: env.AUTH_PORT,
    adminPort: env.ADMIN_PORT,
    peppers: peppers.map((p) => Buffer.from(p, 'utf8')),
    adminTokens,
    jwtSecret,
    // Production without it was refused above; locally it came from the secrets file.
    signingKeyEncryptionKey: encryptionKey!,
    rabbitmqManagementUrl: env.RABBITMQ_MANAGEMENT_URL?.[0],
    rabbitmqAmqpUrl: env.RABBITMQ_AMQP_URL?.[0],
    rabbitmqManagementUrls: env.RABBITMQ_MANAGEMENT_URL ?? [],
    rabbitmqAmqpUrls: env.RABBITMQ_AMQP_URL ?? [],
    brokerQueueType: env.BROKER_QUEUE_TYPE ?? DEFAULT_QUEUE_TYPE,
    publicAmqpHost: env.PUBLIC_AMQP_HOST ?? 'amqp.voke.turena.cz',
    publicAmqpPort: env.PUBLIC_AMQP_PORT,
    logLevel: env.LOG_LEVEL ?? 'info',
    brokerAuthCacheTtlMs: env.BROKER_AUTH_CACHE_TTL_MS,
    missLookupsPerSecond: env.AUTH_MISS_LOOKUPS_PER_SECOND,
    trustedProxies: env.TRUSTED_PROXIES,
    verifyTokens: env.VERIFY_TOKENS,
    authTls:
      env.AUTH_TLS_CERT !== undefined && env.AUTH_TLS_KEY !== undefined
        ? { cert: env.AUTH_TLS_CERT, key: env.AUTH_TLS_KEY, ...(env.AUTH_TLS_CA !== undefined ? { ca: env.AUTH_TLS_CA } : {}) }
        : undefined,
    authMaxConnections: env.AUTH_MAX_CONNECTIONS,
    denyReasons: env.AUTH_DENY_REASONS ?? 'auto',
  };
  return { config, warnings };
}

function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ConfigError(r.error.issues[0]!.message);
  return r.data;
}
