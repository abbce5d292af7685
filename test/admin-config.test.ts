// Configuration the admin API depends on (docs/operations.md, "Configuration").

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { startTestService, TEST_ADMIN_TOKEN } from './support/service.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'voke-auth-config-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Production secrets as `openssl rand -base64 32` makes them.
const NEW_PEPPER = 'q7Vd0bXn2mKc9sLw4RtYz8PjHf6GaE1uN3oBiC5xZkM=';
const OLD_PEPPER = 'Lm3Qw9Er7Ty1Ui5Op2As8Df4Gh6Jk0ZxCvBnM1q2w3E=';
const TOKEN_A = 'vadm_Zx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa9Sd0';
const TOKEN_B = 'vadm_Lk2Jh3Gf4Ds5Az6Xc7Vb8Nm9Qw0Er1';

describe('production configuration', () => {
  it('refuses to start without API_KEY_PEPPER and SIGNING_KEY_ENCRYPTION_KEY, naming them', () => {
    const run = () => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/voke', DATA_DIR: tempDir() });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/API_KEY_PEPPER/);
    expect(run).toThrow(/SIGNING_KEY_ENCRYPTION_KEY/);
  });

  it('names just the one that is missing', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/voke', SIGNING_KEY_ENCRYPTION_KEY: key })).toThrow(
      /requires API_KEY_PEPPER \(/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/voke', API_KEY_PEPPER: 'p' })).toThrow(
      /requires SIGNING_KEY_ENCRYPTION_KEY \(/,
    );
  });

  it('never generates secrets in production', () => {
    const dir = tempDir();
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/voke', DATA_DIR: dir })).toThrow();
    expect(() => statSync(join(dir, 'local-secrets.json'))).toThrow();
  });

  it('starts with both set; peppers are comma-separated, current first', () => {
    const { config, warnings } = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://db/voke',
      API_KEY_PEPPER: `${NEW_PEPPER}, ${OLD_PEPPER}`,
      SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
      ADMIN_TOKENS: `${TOKEN_A},${TOKEN_B}`,
      RABBITMQ_MANAGEMENT_URL: 'http://voke-admin:secret@rabbitmq:15672',
    });
    expect(config.peppers.map(String)).toEqual([NEW_PEPPER, OLD_PEPPER]);
    expect(config.adminTokens).toEqual([TOKEN_A, TOKEN_B]);
    expect(config.jwtSecret).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('rejects an encryption key that is not 32 bytes', () => {
    expect(() =>
      loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'x', API_KEY_PEPPER: NEW_PEPPER, SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }),
    ).toThrow(/SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes/);
  });
});

describe('weak production secrets are refused, naming the variable', () => {
  const BASE = {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://db/voke',
    API_KEY_PEPPER: NEW_PEPPER,
    SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    ADMIN_TOKENS: TOKEN_A,
    BROKER_PROVISIONING: 'off',
  };

  it('accepts secrets as openssl rand makes them', () => {
    expect(loadConfig({ ...BASE, JWT_SECRET: OLD_PEPPER }).config.production).toBe(true);
  });

  it.each([
    ['API_KEY_PEPPER', 'p', /weak API_KEY_PEPPER: use at least 32 random characters/],
    ['API_KEY_PEPPER', `${NEW_PEPPER},short-old-pepper`, /weak API_KEY_PEPPER \(entry 2\)/],
    ['API_KEY_PEPPER', 'a'.repeat(64), /weak API_KEY_PEPPER/],
    ['API_KEY_PEPPER', 'changeme'.repeat(5), /weak API_KEY_PEPPER/],
    ['ADMIN_TOKENS', 't', /weak ADMIN_TOKENS/],
    ['ADMIN_TOKENS', `${TOKEN_A},admin`, /weak ADMIN_TOKENS \(entry 2\)/],
    ['VERIFY_TOKENS', 'gateway', /weak VERIFY_TOKENS/],
    ['VERIFY_TOKENS', `${TOKEN_A.replace('a', 'b')},verify-me`, /weak VERIFY_TOKENS \(entry 2\)/],
    ['JWT_SECRET', 'secret', /weak JWT_SECRET/],
    ['SIGNING_KEY_ENCRYPTION_KEY', Buffer.alloc(31, 1).toString('base64'), /SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes, base64-encoded/],
    ['SIGNING_KEY_ENCRYPTION_KEY', `${Buffer.alloc(32, 1).toString('base64')}!!`, /SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes, base64-encoded/],
    ['SIGNING_KEY_ENCRYPTION_KEY', 'x'.repeat(44), /SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes, base64-encoded/],
  ])('%s=%s', (name, value, message) => {
    const run = () => loadConfig({ ...BASE, [name]: value });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(message);
    try {
      run();
    } catch (err) {
      if (value.length > 8) expect((err as Error).message).not.toContain(value); // a secret is never echoed
    }
  });

  it('outside production short secrets are accepted (local and test runs)', () => {
    expect(() =>
      loadConfig({ API_KEY_PEPPER: 'p', SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'), ADMIN_TOKENS: 't', JWT_SECRET: 'j' }),
    ).not.toThrow();
  });
});

describe('NODE_ENV and LOG_LEVEL', () => {
  it('accept production, development, test and the pino levels; refuse anything else by name', () => {
    for (const v of ['development', 'test']) expect(loadConfig({ DATA_DIR: tempDir(), NODE_ENV: v }).config.production).toBe(false);
    for (const v of ['prod', 'Production', 'staging'])
      expect(() => loadConfig({ DATA_DIR: tempDir(), NODE_ENV: v }), v).toThrow(`NODE_ENV must be one of production, development, test, got "${v}"`);
    for (const v of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      expect(loadConfig({ DATA_DIR: tempDir(), LOG_LEVEL: v }).config.logLevel).toBe(v);
    expect(() => loadConfig({ DATA_DIR: tempDir(), LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL must be one of/);
  });
});

describe('local configuration', () => {
  it('generates the missing secrets into DATA_DIR (mode 600), warns, and reuses them', () => {
    const dir = tempDir();
    const first = loadConfig({ DATA_DIR: dir });
    const file = join(dir, 'local-secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    expect(first.warnings.join(' ')).toMatch(/generated local secrets for API_KEY_PEPPER, SIGNING_KEY_ENCRYPTION_KEY, ADMIN_TOKENS, JWT_SECRET/);
    expect(first.config.signingKeyEncryptionKey).toHaveLength(32);
    expect(first.config.adminTokens).toEqual([stored.adminToken]);

    const second = loadConfig({ DATA_DIR: dir });
    expect(second.warnings.join(' ')).toMatch(/^using local secrets/);
    expect(second.config.peppers[0]!.equals(first.config.peppers[0]!)).toBe(true);
    expect(second.config.signingKeyEncryptionKey.equals(first.config.signingKeyEncryptionKey)).toBe(true);
    expect(second.config.jwtSecret).toBe(first.config.jwtSecret);
  });

  it('names a broken local secrets file without quoting it', () => {
    for (const content of ['{"apiKeyPepper": "s3cret-pepper-value", "adminTok', '{"apiKeyPepper": "s3cret-pepper-value"}', 'null']) {
      const dir = tempDir();
      writeFileSync(join(dir, 'local-secrets.json'), content);
      let error: unknown;
      try {
        loadConfig({ DATA_DIR: dir });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/local-secrets\.json is unreadable or incomplete/);
      expect((error as Error).message).not.toContain('s3cret');
    }
  });

  it('explicit values win over generated ones', () => {
    const { config } = loadConfig({ DATA_DIR: tempDir(), API_KEY_PEPPER: 'mine', ADMIN_TOKENS: 't1' });
    expect(config.peppers.map(String)).toEqual(['mine']);
    expect(config.adminTokens).toEqual(['t1']);
  });
});

describe('broker provisioning (RABBITMQ_MANAGEMENT_URL, BROKER_PROVISIONING)', () => {
  const PRODUCTION = {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://db/voke',
    API_KEY_PEPPER: NEW_PEPPER,
    SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
  };

  it('production without RABBITMQ_MANAGEMENT_URL refuses to start, naming it and the opt-out', () => {
    const run = () => loadConfig(PRODUCTION);
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/NODE_ENV=production requires RABBITMQ_MANAGEMENT_URL \(or BROKER_PROVISIONING=off/);
    expect(() => loadConfig({ ...PRODUCTION, BROKER_PROVISIONING: 'on' })).toThrow(/requires RABBITMQ_MANAGEMENT_URL/);
  });

  it('production with a management URL: provisioning on, probes derived to its host on 5672', () => {
    const { config } = loadConfig({ ...PRODUCTION, RABBITMQ_MANAGEMENT_URL: 'http://voke-admin:secret@rabbitmq:15672' });
    expect(config.rabbitmqManagementUrl).toBeDefined();
    expect(config.rabbitmqAmqpUrl).toBe('amqp://rabbitmq:5672');
  });

  it('BROKER_PROVISIONING=off: production starts without a broker; a management URL given anyway is ignored, with a warning', () => {
    const off = loadConfig({ ...PRODUCTION, BROKER_PROVISIONING: 'off' });
    expect(off.config.rabbitmqManagementUrl).toBeUndefined();
    expect(off.config.rabbitmqManagementUrl).toBeUndefined();
    expect(off.warnings).toEqual([]);
    const ignored = loadConfig({ ...PRODUCTION, BROKER_PROVISIONING: 'off', RABBITMQ_MANAGEMENT_URL: 'http://voke-admin:secret@rabbitmq:15672' });
    expect(ignored.config.rabbitmqManagementUrl).toBeUndefined();
    expect(ignored.config.rabbitmqAmqpUrl).toBeUndefined();
    expect(ignored.warnings.join(' ')).toMatch(/BROKER_PROVISIONING=off: RABBITMQ_MANAGEMENT_URL is ignored/);
    expect(ignored.warnings.join(' ')).not.toContain('secret');
  });

  it('outside production: no URL means no provisioning; BROKER_PROVISIONING=on insists; other values are refused', () => {
    const dev = loadConfig({ DATA_DIR: tempDir() });
    expect(dev.config.rabbitmqManagementUrl).toBeUndefined();
    expect(() => loadConfig({ DATA_DIR: tempDir(), BROKER_PROVISIONING: 'on' })).toThrow(/BROKER_PROVISIONING=on requires RABBITMQ_MANAGEMENT_URL/);
    expect(() => loadConfig({ DATA_DIR: tempDir(), BROKER_PROVISIONING: 'false' })).toThrow(/BROKER_PROVISIONING must be "on" or "off"/);
  });

  it('AUTH_MISS_LOOKUPS_PER_SECOND: 50 by default, a whole number from 1 to 100000, anything else refused by name', () => {
    expect(loadConfig({ DATA_DIR: tempDir() }).config.missLookupsPerSecond).toBe(50);
    expect(loadConfig({ DATA_DIR: tempDir(), AUTH_MISS_LOOKUPS_PER_SECOND: '7' }).config.missLookupsPerSecond).toBe(7);
    for (const bad of ['0', '-1', '2.5', 'many', '100001']) {
      expect(() => loadConfig({ DATA_DIR: tempDir(), AUTH_MISS_LOOKUPS_PER_SECOND: bad }), bad).toThrow(
        /AUTH_MISS_LOOKUPS_PER_SECOND must be a whole number from 1 to 100000/,
      );
    }
  });

  it('TRUSTED_PROXIES: none by default, addresses and CIDRs, anything else refused by name; VERIFY_TOKENS: a list', () => {
    const base = loadConfig({ DATA_DIR: tempDir() }).config;
    expect(base.trustedProxies).toEqual([]);
    expect(base.verifyTokens).toEqual([]);
    const set = loadConfig({ DATA_DIR: tempDir(), TRUSTED_PROXIES: '10.0.0.5, 10.1.0.0/16,::1', VERIFY_TOKENS: 'a, b' }).config;
    expect(set.trustedProxies).toHaveLength(3);
    expect(set.verifyTokens).toEqual(['a', 'b']);
    for (const bad of ['proxy.internal', '10.0.0.0/33', '10.1']) {
      expect(() => loadConfig({ DATA_DIR: tempDir(), TRUSTED_PROXIES: `127.0.0.1,${bad}` }), bad).toThrow(
        /TRUSTED_PROXIES must be comma-separated IPv4\/IPv6 addresses or CIDR ranges/,
      );
    }
  });

  it('npm start in production without it exits 78 (EX_CONFIG), naming RABBITMQ_MANAGEMENT_URL', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH, ...PRODUCTION, DATA_DIR: tempDir() },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/refusing to start: NODE_ENV=production requires RABBITMQ_MANAGEMENT_URL/);
  }, 70_000);

  describe('a running service with BROKER_PROVISIONING=off (real PostgreSQL)', () => {
    let db: TestDatabase;
    let service: Awaited<ReturnType<typeof startTestService>>;
    afterAll(async () => {
      await service?.stop();
      await db?.drop();
    });

    it('provisions nothing, runs no reconciler, and the mint answers selfTest skipped', async () => {
      db = await createTestDatabase();
      // A management URL that answers nothing: it must not be used.
      service = await startTestService(db.url, { env: { BROKER_PROVISIONING: 'off', RABBITMQ_MANAGEMENT_URL: 'http://voke-admin:secret@127.0.0.1:9' } });
      expect(service.reconciler).toBeUndefined();
      const call = async (path: string, body: unknown, orgId?: string) => {
        const res = await fetch(service.adminUrl + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', ...(orgId ? { 'x-org-id': orgId } : {}) },
          body: JSON.stringify(body),
        });
        return { status: res.status, json: (await res.json()) as any };
      };
      const org = await call('/api/v1/admin/organizations', { slug: 'offco', name: 'Off Co' });
      const minted = await call('/api/v1/partner/api-keys', { name: 'k', partnerId: 'p', scopes: ['vcp:connect'] }, org.json.id);
      expect(minted.status, JSON.stringify(minted.json)).toBe(201);
      expect(minted.json.connection.selfTest).toEqual({ status: 'skipped' });
    });
  });
});
