// The voke-auth commands that call the super-admin key routes, as processes against
// a running service on real PostgreSQL: search across organizations, `keys revoke --leaked`
// (and the incident runbook of docs/admin.md, run as written), `keys import` of a legacy key that then
// logs in on "/" through the hot path. (`keys update`: test/cli-keys-update.test.ts.)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { cliFor, ok } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { askAuth, startTestService, TEST_ADMIN_TOKEN } from './support/service.js';
import { tempDir } from './support/temp.js';

let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let run: ReturnType<typeof cliFor>;
const secrets: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  run = cliFor(service.adminUrl!, TEST_ADMIN_TOKEN);
  for (const slug of ['north-cli', 'south-cli']) expect((await run.cli(['orgs', 'create', slug, '--name', slug])).code).toBe(0);
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const cli = (args: string[], opts?: Parameters<typeof run.cli>[1]) => run.cli(args, opts);

interface Minted {
  key: string;
  apiKey: { id: string; keyPrefix: string; organizationId: string; partnerId: string };
}

async function mint(slug: string, partnerId = 'esm'): Promise<Minted> {
  const r = ok(await cli(['keys', 'mint', '--org', slug, '--name', 'k', '--partner-id', partnerId, '--scopes', 'vcp:connect', '--json']));
  const body = JSON.parse(r.stdout) as Minted & { signingKey: string | null };
  secrets.push(body.key);
  return body;
}

const login = async (slug: string, key: string, authUrl = service.authUrl) => (await askAuth(authUrl, 'user', { username: slug, password: key })).body;

describe('keys list and show across organizations (admin search)', () => {
  it("lists every organization's keys, filtered by prefix, partner id and --active", async () => {
    const a = await mint('north-cli', 'p-north');
    const b = await mint('south-cli', 'p-south');
    const all = JSON.parse(ok(await cli(['keys', 'list', '--json'])).stdout) as { id: string }[];
    expect(all.map((k) => k.id)).toEqual(expect.arrayContaining([a.apiKey.id, b.apiKey.id]));
    const south = JSON.parse(ok(await cli(['keys', 'list', '--partner-id', 'p-south', '--json'])).stdout) as { id: string }[];
    expect(south.map((k) => k.id)).toEqual([b.apiKey.id]);
    const byPrefix = JSON.parse(ok(await cli(['keys', 'list', '--prefix', a.apiKey.keyPrefix, '--json'])).stdout) as { id: string }[];
    expect(byPrefix.map((k) => k.id)).toContain(a.apiKey.id);
    ok(await cli(['keys', 'revoke', a.apiKey.id]));
    const active = JSON.parse(ok(await cli(['keys', 'list', '--active', '--json'])).stdout) as { id: string }[];
    expect(active.map((k) => k.id)).not.toContain(a.apiKey.id);
    expect(active.map((k) => k.id)).toContain(b.apiKey.id);
  });

  it('show and revoke by prefix without --org; a prefix matching keys of two organizations changes nothing', async () => {
    const c = await mint('north-cli');
    const shown = JSON.parse(ok(await cli(['keys', 'show', c.apiKey.keyPrefix, '--json'])).stdout);
    expect(shown.id).toBe(c.apiKey.id);
    const before = await db.sql`SELECT id FROM api_keys WHERE is_active`;
    const r = await cli(['keys', 'revoke', 'voke_']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ambiguous: prefix voke_ matches \d+ keys; nothing was changed/);
    expect(r.stderr).toContain('north-cli');
    expect(r.stderr).toContain('south-cli');
    expect(await db.sql`SELECT id FROM api_keys WHERE is_active`).toHaveLength(before.length);
  });
});

describe('keys revoke --leaked (keys on standard input)', () => {
  it('revokes the leaked keys, reports already revoked and unknown ones, and the key is then denied', async () => {
    const leaked = await mint('north-cli');
    const old = await mint('south-cli');
    ok(await cli(['keys', 'revoke', old.apiKey.id]));
    const unknown = generateApiKey();
    expect(await login('north-cli', leaked.key)).toBe(`allow vcp-key-${leaked.apiKey.id}`);
    // A second instance on the same database (its own key table, told by NOTIFY).
    const other = await startTestService(db.url, { admin: false });
    try {
      expect(await login('north-cli', leaked.key, other.authUrl)).toBe(`allow vcp-key-${leaked.apiKey.id}`);
      await revokeLeaked(leaked, old, unknown);
      await expect.poll(() => login('north-cli', leaked.key, other.authUrl)).toBe('deny');
    } finally {
      await other.stop();
    }
  });
});

/** `keys revoke --leaked` with a known, an already revoked and two unknown keys; checks the answer, the hot path and the audit rows. */
async function revokeLeaked(leaked: Minted, old: Minted, unknown: string): Promise<void> {
  const tooLong = `voke_${'z'.repeat(600)}`; // longer than any password a login hashes
  const r = await cli(['keys', 'revoke', '--leaked', '--json'], { input: `${leaked.key}\n\n  ${old.key}  \n${unknown}\n${tooLong}\n${leaked.key}\n` });
  expect(r.code).toBe(1); // two lines were not keys of the service
  const body = JSON.parse(r.stdout);
  expect(body).toEqual({
    revoked: [{ id: leaked.apiKey.id, keyPrefix: leaked.apiKey.keyPrefix, organizationId: leaked.apiKey.organizationId }],
    alreadyRevoked: [{ id: old.apiKey.id, keyPrefix: old.apiKey.keyPrefix, organizationId: old.apiKey.organizationId }],
    unknown: 2,
  });
  expect(r.stderr).toMatch(/2 of 4 keys are not keys of this service/);
  for (const k of [leaked.key, old.key, unknown, tooLong]) {
    expect(r.stdout).not.toContain(k);
    expect(r.stderr).not.toContain(k);
  }
  // Denied at once by this instance (its cache was told before the answer), not eventually.
  expect(await login('north-cli', leaked.key)).toBe('deny');

  const rows = await db.sql<{ details: Record<string, unknown> }[]>`
    SELECT details FROM audit_events WHERE type = 'api_key.revoked' AND api_key_id = ${leaked.apiKey.id}`;
  expect(rows).toHaveLength(1);
  expect(rows[0]!.details).toEqual({ reason: 'leaked' });
  const [old1] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_events WHERE type = 'api_key.revoked' AND api_key_id = ${old.apiKey.id}`;
  expect(old1!.n).toBe(1);
}

describe('keys revoke --leaked: the runbook', () => {
  it('the incident runbook, run as docs/admin.md writes it: echo "$KEY" | npx voke-auth keys revoke --leaked', async () => {
    const leaked = await mint('south-cli');
    const readme = readFileSync(new URL('../docs/admin.md', import.meta.url), 'utf8');
    const line = readme.split('\n').find((l) => l.startsWith('echo "$KEY" | npx voke-auth keys revoke --leaked'));
    expect(line, 'the runbook line in docs/admin.md').toBeDefined();
    const command = line!.replace(/\s+#.*$/, '');
    expect(command).toBe('echo "$KEY" | npx voke-auth keys revoke --leaked');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('sh', ['-c', command], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { ...process.env, KEY: leaked.key, VOKE_AUTH_URL: service.adminUrl!, VOKE_AUTH_TOKEN: TEST_ADMIN_TOKEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${leaked.apiKey.id}\\s+${leaked.apiKey.keyPrefix}\\s+south-cli\\s+revoked`));
    expect(r.stdout).toContain('1 revoked, 0 already revoked, 0 unknown');
    expect(r.stdout + r.stderr).not.toContain(leaked.key);
    expect(await login('south-cli', leaked.key)).toBe('deny');
  }, 60_000);
});

describe('keys import', () => {
  it('imports a legacy key by its SHA-256 hash onto "/", where it then logs in; importing again changes nothing', async () => {
    const legacyKey = `legacy-${generateApiKey().slice(5, 30)}`;
    secrets.push(legacyKey);
    const file = join(tempDir('voke-import-'), 'keys.json');
    writeFileSync(
      file,
      JSON.stringify([
        {
          keySha256: createHash('sha256').update(legacyKey).digest('hex'),
          organizationSlug: 'south-cli',
          name: 'Legacy ESM key',
          partnerId: 'legacy-esm',
          scopes: ['vcp:connect'],
          allowedIps: [],
          expiresAt: null,
          createdAt: '2024-03-01T00:00:00Z',
        },
      ]),
    );
    const first = ok(await cli(['keys', 'import', file]));
    expect(first.stdout).toContain('1 imported, 0 existing (unchanged)');
    const [row] = await db.sql<{ id: string; vhost: string | null; legacyScopeExpansion: boolean }[]>`
      SELECT id, vhost, legacy_scope_expansion FROM api_keys WHERE name = 'Legacy ESM key'`;
    expect(row).toMatchObject({ vhost: null, legacyScopeExpansion: true });
    expect(await login('south-cli', legacyKey)).toBe(`allow vcp-key-${row!.id}`);
    const vhost = await askAuth(service.authUrl, 'vhost', { username: 'south-cli', vhost: '/', ip: '127.0.0.1', tags: `vcp-key-${row!.id}` });
    expect(vhost.body).toBe('allow');

    // It logs in again after the hot path re-stored its hash under the pepper; importing the
    // file again still finds it (and changes nothing).
    expect(await login('south-cli', legacyKey)).toBe(`allow vcp-key-${row!.id}`);
    const sha = createHash('sha256').update(legacyKey).digest('hex');
    const hashNow = async () => (await db.sql<{ keyHash: string }[]>`SELECT key_hash FROM api_keys WHERE id = ${row!.id}`)[0]!.keyHash;
    await expect.poll(hashNow).not.toBe(sha); // re-stored under the pepper (the hot path does it after answering)
    // What an import could change (last_used_at and connected_at are the hot path's bookkeeping).
    const stored = () => db.sql`
      SELECT key_hash, import_fingerprint, key_prefix, name, partner_id, scopes, allowed_ips, vhost, is_active,
             legacy_scope_expansion, expires_at, created_at, updated_at, organization_id
      FROM api_keys WHERE id = ${row!.id}`;
    const before = await stored();
    const again = JSON.parse(ok(await cli(['keys', 'import', file, '--json'])).stdout);
    expect(again).toEqual({
      imported: [],
      existing: [{ id: row!.id, keyPrefix: expect.any(String), organizationId: expect.any(String), name: 'Legacy ESM key' }],
    });
    expect(await db.sql`SELECT id FROM api_keys WHERE name = 'Legacy ESM key'`).toHaveLength(1);
    expect(await stored()).toEqual(before);
    const created = await db.sql<{ details: unknown }[]>`SELECT details FROM audit_events WHERE type = 'api_key.created' AND api_key_id = ${row!.id}`;
    expect(created).toEqual([{ details: { via: 'import' } }]);
  });
});

it('no message on standard error ever held a key', () => {
  // Not vacuous: keys were used and messages were written by the tests above.
  expect(secrets.length).toBeGreaterThan(0);
  expect(run.stderrs.length).toBeGreaterThan(0);
  for (const err of run.stderrs) for (const s of secrets) expect(err).not.toContain(s);
});
