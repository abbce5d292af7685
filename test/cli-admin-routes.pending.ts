// PENDING (not run: vitest includes test/**/*.test.ts only). The voke-auth commands that call
// admin routes issue 11 adds later (DESIGN §7):
//   GET   /api/v1/admin/api-keys?prefix&partnerId&organizationId&isActive&page&limit
//   POST  /api/v1/admin/api-keys/revoke-leaked {keys} → {revoked, alreadyRevoked, unknown}
//   POST  /api/v1/admin/api-keys/import
//   PATCH /api/v1/partner/api-keys/:id {name?, allowedIps?}
// Whoever adds those routes renames this file to test/cli-admin-routes.test.ts and makes it pass.
// The import body's field names below (sha256, organization, …) are the CLI side's guess: the
// CLI sends the file as it is ({"keys": [...]} when the file is an array), so align the
// fixture with the route's schema, not the CLI.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/keys/format.js';
import { cliFor, type CliResult } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { askAuth, startTestService, TEST_ADMIN_TOKEN } from './support/service.js';

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

function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

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

const login = async (slug: string, key: string) => (await askAuth(service.authUrl, 'user', { username: slug, password: key })).body;

describe('keys list and show across organizations (admin search)', () => {
  it('lists every organization\'s keys, filtered by prefix, partner id and --active', async () => {
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

    const r = await cli(['keys', 'revoke', '--leaked', '--json'], { input: `${leaked.key}\n\n  ${old.key}  \n${unknown}\n` });
    expect(r.code).toBe(1); // one key was unknown
    const body = JSON.parse(r.stdout);
    expect(body).toEqual({
      revoked: [{ id: leaked.apiKey.id, keyPrefix: leaked.apiKey.keyPrefix, organizationId: leaked.apiKey.organizationId }],
      alreadyRevoked: [{ id: old.apiKey.id, keyPrefix: old.apiKey.keyPrefix, organizationId: old.apiKey.organizationId }],
      unknown: 1,
    });
    expect(r.stderr).toMatch(/1 of 3 keys are not keys of this service/);
    for (const k of [leaked.key, old.key, unknown]) {
      expect(r.stdout).not.toContain(k);
      expect(r.stderr).not.toContain(k);
    }
    await expect.poll(() => login('north-cli', leaked.key)).toBe('deny');

    const rows = await db.sql<{ details: Record<string, unknown> }[]>`
      SELECT details FROM audit_events WHERE type = 'api_key.revoked' AND api_key_id = ${leaked.apiKey.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.details).toMatchObject({ reason: 'leaked' });
  });

  it('the incident runbook: echo "$KEY" | voke-auth keys revoke --leaked → exit 0, a table, no key printed', async () => {
    const leaked = await mint('south-cli');
    const r = ok(await cli(['keys', 'revoke', '--leaked'], { input: `${leaked.key}\n` }));
    expect(r.stdout).toMatch(new RegExp(`${leaked.apiKey.id}\\s+${leaked.apiKey.keyPrefix}\\s+south-cli\\s+revoked`));
    expect(r.stdout).toContain('1 revoked, 0 already revoked, 0 unknown');
    expect(r.stdout + r.stderr).not.toContain(leaked.key);
  });
});

describe('keys update (PATCH)', () => {
  it('renames a key and changes its allowlist; --allowed-ips "" lifts it', async () => {
    const k = await mint('north-cli');
    const updated = JSON.parse(ok(await cli(['keys', 'update', k.apiKey.keyPrefix, '--org', 'north-cli', '--name', 'Renamed', '--allowed-ips', '10.0.0.0/8', '--json'])).stdout);
    expect(updated).toMatchObject({ id: k.apiKey.id, name: 'Renamed', allowedIps: ['10.0.0.0/8'] });
    const lifted = JSON.parse(ok(await cli(['keys', 'update', k.apiKey.id, '--allowed-ips', '', '--json'])).stdout);
    expect(lifted.allowedIps).toEqual([]);
    const events = JSON.parse(ok(await cli(['audit', '--key', k.apiKey.id, '--type', 'api_key.updated', '--json'])).stdout);
    expect(events).toHaveLength(2);
  });
});

describe('keys import', () => {
  it('imports a legacy key by its SHA-256 hash onto "/", where it then logs in; importing again changes nothing', async () => {
    const legacyKey = `legacy-${generateApiKey().slice(5, 30)}`;
    secrets.push(legacyKey);
    const file = join(mkdtempSync(join(tmpdir(), 'voke-import-')), 'keys.json');
    writeFileSync(
      file,
      JSON.stringify([
        {
          sha256: createHash('sha256').update(legacyKey).digest('hex'),
          organization: 'south-cli',
          name: 'Legacy ESM key',
          partnerId: 'legacy-esm',
          scopes: ['vcp:connect'],
          allowedIps: [],
          expiresAt: null,
          createdAt: '2024-03-01T00:00:00Z',
        },
      ]),
    );
    ok(await cli(['keys', 'import', file]));
    const [row] = await db.sql<{ id: string; vhost: string | null; legacy_scope_expansion: boolean }[]>`
      SELECT id, vhost, legacy_scope_expansion FROM api_keys WHERE name = 'Legacy ESM key'`;
    expect(row).toMatchObject({ vhost: null, legacy_scope_expansion: true });
    expect(await login('south-cli', legacyKey)).toBe(`allow vcp-key-${row!.id}`);
    const vhost = await askAuth(service.authUrl, 'vhost', { username: 'south-cli', vhost: '/', ip: '127.0.0.1', tags: `vcp-key-${row!.id}` });
    expect(vhost.body).toBe('allow');

    ok(await cli(['keys', 'import', file, '--json']));
    expect(await db.sql`SELECT id FROM api_keys WHERE name = 'Legacy ESM key'`).toHaveLength(1);
  });
});

it('no message on standard error ever held a key', () => {
  for (const err of run.stderrs) for (const s of secrets) expect(err).not.toContain(s);
});
