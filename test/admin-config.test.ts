// Configuration the admin API depends on (DESIGN §8).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'voke-auth-config-'));
  dirs.push(d);
  return d;
};
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('production configuration', () => {
  it('refuses to start without API_KEY_PEPPER and SIGNING_KEY_ENCRYPTION_KEY, naming them', () => {
    const run = () => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/voke', DATA_DIR: tempDir() });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/API_KEY_PEPPER/);
    expect(run).toThrow(/SIGNING_KEY_ENCRYPTION_KEY/);
  });

  it('names just the one that is missing', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/voke', SIGNING_KEY_ENCRYPTION_KEY: key }))
      .toThrow(/requires API_KEY_PEPPER \(/);
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/voke', API_KEY_PEPPER: 'p' }))
      .toThrow(/requires SIGNING_KEY_ENCRYPTION_KEY \(/);
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
      API_KEY_PEPPER: 'new-pepper, old-pepper',
      SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
      ADMIN_TOKENS: 'a,b',
    });
    expect(config.peppers.map(String)).toEqual(['new-pepper', 'old-pepper']);
    expect(config.adminTokens).toEqual(['a', 'b']);
    expect(config.jwtSecret).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('rejects an encryption key that is not 32 bytes', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'x', API_KEY_PEPPER: 'p', SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }))
      .toThrow(/SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes/);
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
