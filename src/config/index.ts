import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Everything the service reads from its environment (DESIGN §8). */
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
  rabbitmqManagementUrl: string | undefined;
  rabbitmqAmqpUrl: string | undefined;
  publicAmqpHost: string;
  publicAmqpPort: number;
  logLevel: string;
}

export class ConfigError extends Error {}

/** Secrets generated for local runs, kept in DATA_DIR so they survive restarts. */
interface LocalSecrets {
  apiKeyPepper: string;
  signingKeyEncryptionKey: string;
  adminToken: string;
  jwtSecret: string;
}

export interface LoadedConfig {
  config: Config;
  /** Human-readable warnings to log once at start (generated secrets etc.). */
  warnings: string[];
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be a port number, got "${raw}"`);
  return n;
}

function list(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function decodeEncryptionKey(raw: string): Buffer {
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new ConfigError('SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes, base64-encoded');
  return key;
}

/** The file holds secrets: a broken one is named, never quoted (JSON.parse errors quote the text). */
function readLocalSecrets(file: string): LocalSecrets {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    parsed = undefined;
  }
  const fields: (keyof LocalSecrets)[] = ['apiKeyPepper', 'signingKeyEncryptionKey', 'adminToken', 'jwtSecret'];
  const record = parsed as Record<string, unknown> | undefined;
  if (typeof record !== 'object' || record === null || fields.some((f) => typeof record[f] !== 'string')) {
    throw new ConfigError(`${file} is unreadable or incomplete; remove it to generate new local secrets`);
  }
  return record as unknown as LocalSecrets;
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
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  return { secrets, created: true };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const production = env.NODE_ENV === 'production';
  const dataDir = resolve(env.DATA_DIR || './.data');
  const warnings: string[] = [];

  if (production) {
    const missing = ['API_KEY_PEPPER', 'SIGNING_KEY_ENCRYPTION_KEY', 'DATABASE_URL'].filter((n) => !env[n]);
    if (missing.length > 0) {
      throw new ConfigError(`NODE_ENV=production requires ${missing.join(', ')} (see README, Configuration)`);
    }
  }

  let pepperList = list(env.API_KEY_PEPPER);
  let encryptionKeyRaw = env.SIGNING_KEY_ENCRYPTION_KEY;
  let adminTokens = list(env.ADMIN_TOKENS);
  let jwtSecret = env.JWT_SECRET || undefined;

  if (!production && (pepperList.length === 0 || !encryptionKeyRaw || adminTokens.length === 0 || !jwtSecret)) {
    const { secrets, created } = loadOrCreateLocalSecrets(dataDir);
    const used: string[] = [];
    if (pepperList.length === 0) { pepperList = [secrets.apiKeyPepper]; used.push('API_KEY_PEPPER'); }
    if (!encryptionKeyRaw) { encryptionKeyRaw = secrets.signingKeyEncryptionKey; used.push('SIGNING_KEY_ENCRYPTION_KEY'); }
    if (adminTokens.length === 0) { adminTokens = [secrets.adminToken]; used.push('ADMIN_TOKENS'); }
    if (!jwtSecret) { jwtSecret = secrets.jwtSecret; used.push('JWT_SECRET'); }
    warnings.push(
      `${created ? 'generated' : 'using'} local secrets for ${used.join(', ')} in ${join(dataDir, 'local-secrets.json')} ` +
        `(not for production; the admin token is the "adminToken" field of that file)`,
    );
  }

  const config: Config = {
    production,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir,
    host: env.HOST || '127.0.0.1',
    authPort: port(env, 'AUTH_PORT', 8080),
    adminPort: port(env, 'ADMIN_PORT', 8081),
    peppers: pepperList.map((p) => Buffer.from(p, 'utf8')),
    adminTokens,
    jwtSecret,
    signingKeyEncryptionKey: decodeEncryptionKey(encryptionKeyRaw!),
    rabbitmqManagementUrl: env.RABBITMQ_MANAGEMENT_URL || undefined,
    rabbitmqAmqpUrl: env.RABBITMQ_AMQP_URL || deriveAmqpUrl(env.RABBITMQ_MANAGEMENT_URL),
    publicAmqpHost: env.PUBLIC_AMQP_HOST || 'amqp.voke.turena.cz',
    publicAmqpPort: port(env, 'PUBLIC_AMQP_PORT', 5671),
    logLevel: env.LOG_LEVEL || 'info',
  };
  return { config, warnings };
}

/** Probes connect where the management API lives, on the plain AMQP port. */
function deriveAmqpUrl(managementUrl: string | undefined): string | undefined {
  if (!managementUrl) return undefined;
  try {
    return `amqp://${new URL(managementUrl).hostname}:5672`;
  } catch {
    throw new ConfigError('RABBITMQ_MANAGEMENT_URL is not a valid URL');
  }
}
