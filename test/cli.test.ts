// The voke-auth command as a process against a running service on real PostgreSQL: every
// command's usage, each exit code, and no secret in any message. (The super-admin key routes —
// search, revoke-leaked, import — are exercised in test/cli-admin-routes.test.ts.)
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliFor, ok, startCli } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { askAuth, startTestService, TEST_ADMIN_TOKEN } from './support/service.js';
import { tempDir } from './support/temp.js';

let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let run: ReturnType<typeof cliFor>;
const secrets: string[] = []; // every key and signing key minted here
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  run = cliFor(service.adminUrl!, TEST_ADMIN_TOKEN);
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const cli = (args: string[], opts?: Parameters<typeof run.cli>[1]) => run.cli(args, opts);

/** Exit 1 with exactly one line on stderr and nothing on stdout. */
function failsWith(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

async function mint(slug: string, extra: string[] = []) {
  const r = ok(
    await cli(['keys', 'mint', '--org', slug, '--name', 'CLI key', '--partner-id', 'esm', '--scopes', 'vcp:connect,vcp:write:setpoint', ...extra, '--json']),
  );
  const body = JSON.parse(r.stdout);
  secrets.push(body.key, body.signingKey);
  return body as { key: string; signingKey: string; apiKey: { id: string; keyPrefix: string; organizationId: string; isActive: boolean } };
}

/** Column start offsets of a table's header, to check every row is aligned to them. */
function assertAligned(out: string, headers: string[]): void {
  const lines = out.trimEnd().split('\n');
  const starts = headers.map((h) => lines[0]!.indexOf(h));
  expect(starts.every((s, i) => s >= 0 && (i === 0 || s > starts[i - 1]!))).toBe(true);
  for (const line of lines.slice(1)) {
    for (const s of starts.slice(1)) expect(line[s - 1], `${line} @${s}`).toBe(' ');
  }
}

describe('usage (exit 2) and help (exit 0)', () => {
  it('--help lists every command; each command has its own help', async () => {
    const top = ok(await cli(['--help']));
    for (const c of ['orgs create', 'orgs list', 'keys mint', 'keys list', 'keys show', 'keys update', 'keys revoke', 'keys import', 'audit']) {
      expect(top.stdout).toContain(c);
    }
    const mintHelp = ok(await cli(['keys', 'mint', '--help']));
    expect(mintHelp.stdout).toMatch(/^Usage: voke-auth keys mint --org <slug>/);
    expect(ok(await cli(['audit', '--help'])).stdout).toContain('--follow');
  });

  it('no command, an unknown command or option, a missing argument: exit 2 with the usage', async () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: voke-auth <command>/],
      [['frobnicate'], /unknown command/],
      [['keys'], /Usage: voke-auth keys mint/],
      [['keys', 'destroy'], /unknown command/],
      [['orgs', 'create', 'acme'], /--name is required/],
      [['orgs', 'create', '--name', 'x'], /exactly one slug/],
      [['keys', 'mint', '--org', 'acme', '--name', 'n', '--partner-id', 'p'], /--scopes is required/],
      [['keys', 'list', '--bogus'], /Unknown option '--bogus'/],
      [['keys', 'show'], /exactly one key/],
      [['keys', 'update', '00000000-0000-4000-8000-000000000000'], /nothing to change/],
      [['keys', 'revoke'], /at least one key/],
      [['keys', 'revoke', '--leaked', 'voke_abcd'], /standard input/],
      [['audit', '--limit', '0'], /--limit/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(pattern);
    }
  });

  it('a whole key given where an id or prefix goes is refused without being echoed', async () => {
    const key = `voke_${'A1b2C3d4E5'.repeat(4)}zzzzzz`;
    const r = await cli(['keys', 'revoke', key]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--leaked');
    expect(r.stderr).not.toContain(key.slice(5, 20));
  });

  it('--leaked with nothing on standard input is a usage error', async () => {
    const r = await cli(['keys', 'revoke', '--leaked'], { input: '\n  \n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no keys on standard input/);
  });
});

describe('failures (exit 1, one line on stderr)', () => {
  it('unauthorized: a wrong token, or none', async () => {
    failsWith(await cli(['orgs', 'list'], { env: { VOKE_AUTH_TOKEN: 'not-the-token' } }), /unauthorized/);
    failsWith(await cli(['orgs', 'list'], { env: { VOKE_AUTH_TOKEN: undefined } }), /unauthorized: VOKE_AUTH_TOKEN is not set/);
  });

  it('server unreachable', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    failsWith(
      await cli(['orgs', 'list', '--json'], { env: { VOKE_AUTH_URL: `http://127.0.0.1:${closed}` } }),
      /server unreachable: cannot connect to http:\/\/127\.0\.0\.1:\d+/,
    );
  });

  it('not found: an unknown organization, key id or prefix', async () => {
    failsWith(await cli(['keys', 'list', '--org', 'no-such-org']), /not found: no organization with slug "no-such-org"/);
    failsWith(await cli(['keys', 'show', '5b0e4a52-3c1d-4d7e-9f00-0123456789ab']), /not found: no API key with id 5b0e4a52/);
    ok(await cli(['orgs', 'create', 'empty-org', '--name', 'Empty']));
    failsWith(await cli(['keys', 'revoke', 'voke_zzzz', '--org', 'empty-org']), /not found: no API key with prefix voke_zzzz/);
  });

  it('keys import: a file that is missing or not JSON', async () => {
    const dir = tempDir('voke-import-');
    writeFileSync(join(dir, 'bad.json'), '{not json');
    failsWith(await cli(['keys', 'import', join(dir, 'bad.json')]), /bad\.json is not valid JSON/);
    failsWith(await cli(['keys', 'import', join(dir, 'missing.json')]), /cannot read .*missing\.json: ENOENT/);
  });

  it('a server answer that quotes a key is never printed with it', async () => {
    const key = `voke_${'Q7w8E9r0T1'.repeat(4)}abcdef`;
    const echo: Server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          code: 'VALIDATION_ERROR',
          statusCode: 400,
          error: 'Bad Request',
          message: `bad key ${key}\nsecond line`,
          details: { issues: [{ path: 'keys.0', message: `got ${key}` }] },
        }),
      );
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
      const r = await cli(['keys', 'revoke', '--leaked'], { input: `${key}\n`, env: { VOKE_AUTH_URL: url } });
      failsWith(r, /invalid request: bad key \[redacted\] second line/);
      expect(r.stderr).not.toContain(key.slice(5, 25));
    } finally {
      echo.close();
    }
  });
});

describe('commands against the running service', () => {
  let acme: { id: string; slug: string };
  let first: Awaited<ReturnType<typeof mint>>;
  let second: Awaited<ReturnType<typeof mint>>;

  it('orgs create and list, as JSON and as an aligned table; a taken slug fails', async () => {
    const created = ok(await cli(['orgs', 'create', 'acme-cli', '--name', 'ACME Energy', '--json']));
    acme = JSON.parse(created.stdout);
    expect(acme).toMatchObject({ slug: 'acme-cli', name: 'ACME Energy' });
    expect(acme.id).toMatch(UUID);
    expect(created.stderr).toBe('');

    const human = ok(await cli(['orgs', 'create', 'gridco-cli', '--name', 'GridCo']));
    expect(human.stdout).toMatch(/^ID\s+SLUG\s+NAME\s+CREATED\n[0-9a-f-]{36}\s+gridco-cli\s+GridCo\s+\d{4}-/);

    failsWith(await cli(['orgs', 'create', 'acme-cli', '--name', 'again']), /conflict: Slug "acme-cli" is taken/);

    const list = JSON.parse(ok(await cli(['orgs', 'list', '--json'])).stdout);
    expect(list.map((o: { slug: string }) => o.slug)).toEqual(expect.arrayContaining(['acme-cli', 'gridco-cli']));
    const table = ok(await cli(['orgs', 'list'])).stdout;
    assertAligned(table, ['ID', 'SLUG', 'NAME', 'CREATED']);
    expect(table).toContain('ACME Energy');
  });

  it('keys mint prints the key and signing key once; the key logs in on the hot path', async () => {
    const human = ok(await cli(['keys', 'mint', '--org', 'acme-cli', '--name', 'Human key', '--partner-id', 'esm', '--scopes', 'vcp:connect,vcp:write:mode']));
    const key = /^key\s+(voke_\w+)$/m.exec(human.stdout)?.[1];
    const signingKey = /^signing key\s+([0-9a-f]{64})$/m.exec(human.stdout)?.[1];
    expect(key).toMatch(/^voke_\w{46}$/);
    expect(signingKey).toBeDefined();
    secrets.push(key!, signingKey!);
    expect(human.stdout).toMatch(/^self-test\s+skipped$/m);
    expect(human.stderr).toMatch(/shown once/);
    expect(human.stderr).not.toContain(key!);

    first = await mint('acme-cli', ['--allowed-ips', '127.0.0.1', '--expires-at', '2099-01-01T00:00:00Z']);
    second = await mint('acme-cli');
    expect(first.key).toMatch(/^voke_/);
    expect(first.apiKey.organizationId).toBe(acme.id);
    expect((await askAuth(service.authUrl, 'user', { username: 'acme-cli', password: first.key })).body).toBe(`allow vcp-key-${first.apiKey.id}`);

    failsWith(await cli(['keys', 'mint', '--org', 'acme-cli', '--name', 'n', '--partner-id', 'p', '--scopes', 'vcp:fly']), /invalid request: .*scopes/);
    failsWith(await cli(['keys', 'mint', '--org', 'nope-org', '--name', 'n', '--partner-id', 'p', '--scopes', 'vcp:connect']), /no organization/);
  });

  it('keys list --org, filtered by prefix, partner id and --active', async () => {
    const all = JSON.parse(ok(await cli(['keys', 'list', '--org', 'acme-cli', '--json'])).stdout) as { id: string }[];
    expect(all.map((k) => k.id)).toEqual(expect.arrayContaining([first.apiKey.id, second.apiKey.id]));
    expect(all).toHaveLength(3);
    const byPrefix = JSON.parse(ok(await cli(['keys', 'list', '--org', 'acme-cli', '--prefix', first.apiKey.keyPrefix, '--json'])).stdout);
    expect(byPrefix.map((k: { id: string }) => k.id)).toContain(first.apiKey.id);
    expect(JSON.parse(ok(await cli(['keys', 'list', '--org', 'acme-cli', '--partner-id', 'nobody', '--json'])).stdout)).toEqual([]);

    const table = ok(await cli(['keys', 'list', '--org', 'acme-cli'])).stdout;
    assertAligned(table, ['ID', 'PREFIX', 'ORG', 'NAME', 'PARTNER', 'STATUS', 'EXPIRES', 'LAST USED']);
    expect(table.trimEnd().split('\n')).toHaveLength(4);
    expect(table).toContain('2099-01-01T00:00:00.000Z');
    for (const s of secrets) expect(table).not.toContain(s);
  });

  it("keys show by id (any organization) and by prefix; the JSON is the API's key", async () => {
    const json = JSON.parse(ok(await cli(['keys', 'show', first.apiKey.id, '--json'])).stdout);
    const api = await fetch(`${service.adminUrl}/api/v1/partner/api-keys/${first.apiKey.id}`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'x-org-id': acme.id },
    }).then((r) => r.json());
    expect(json).toEqual(api);

    const human = ok(await cli(['keys', 'show', first.apiKey.keyPrefix, '--org', 'acme-cli'])).stdout;
    expect(human).toMatch(new RegExp(`^id\\s+${first.apiKey.id}$`, 'm'));
    expect(human).toMatch(/^organization\s+acme-cli \(/m);
    expect(human).toMatch(/^allowed ips\s+127\.0\.0\.1\/32$/m);
    expect(human).toMatch(/^status\s+active$/m);
    for (const s of secrets) expect(human).not.toContain(s);
  });

  it('a prefix that matches two keys lists the candidates and revokes nothing', async () => {
    const r = await cli(['keys', 'revoke', first.apiKey.id, 'voke_', '--org', 'acme-cli']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/ambiguous: prefix voke_ matches 3 keys; nothing was changed/);
    expect(r.stderr).toContain(first.apiKey.id);
    expect(r.stderr).toContain(second.apiKey.id);
    // The id given before the ambiguous prefix was not revoked either.
    const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys WHERE organization_id = ${acme.id} AND is_active`;
    expect(row!.n).toBe(3);
  });

  it('keys revoke by id and by prefix: revoked, then denied on the hot path; again: already revoked', async () => {
    const r = JSON.parse(ok(await cli(['keys', 'revoke', first.apiKey.id, '--json'])).stdout);
    expect(r).toEqual({ revoked: [{ id: first.apiKey.id, keyPrefix: first.apiKey.keyPrefix, organizationId: acme.id }], alreadyRevoked: [], unknown: 0 });
    await expect.poll(async () => (await askAuth(service.authUrl, 'user', { username: 'acme-cli', password: first.key })).body).toBe('deny');

    const human = ok(await cli(['keys', 'revoke', second.apiKey.keyPrefix, '--org', 'acme-cli']));
    expect(human.stdout).toMatch(new RegExp(`${second.apiKey.id}\\s+${second.apiKey.keyPrefix}\\s+acme-cli\\s+revoked`));
    expect(human.stdout).toContain('1 revoked, 0 already revoked, 0 unknown');

    const again = JSON.parse(ok(await cli(['keys', 'revoke', first.apiKey.id, '--json'])).stdout);
    expect(again.revoked).toEqual([]);
    expect(again.alreadyRevoked.map((k: { id: string }) => k.id)).toEqual([first.apiKey.id]);
    // Exactly one audit row for each revocation.
    const rows =
      await db.sql`SELECT api_key_id FROM audit_events WHERE type = 'api_key.revoked' AND api_key_id = ANY(${[first.apiKey.id, second.apiKey.id]}::uuid[])`;
    expect(rows).toHaveLength(2);
  });

  it("audit lists events (also a SQL revoke's), filtered by organization, type and key", async () => {
    const third = await mint('acme-cli');
    await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${third.apiKey.id}`;

    const events = JSON.parse(ok(await cli(['audit', '--org', 'acme-cli', '--type', 'api_key.revoked', '--json'])).stdout) as {
      apiKeyId: string;
      actorId: string | null;
      details: Record<string, unknown>;
      createdAt: string;
    }[];
    expect(events.map((e) => e.apiKeyId).sort()).toEqual([first.apiKey.id, second.apiKey.id, third.apiKey.id].sort());
    expect(events.find((e) => e.apiKeyId === third.apiKey.id)).toMatchObject({ actorId: null, details: { via: 'sql' } });
    const times = events.map((e) => e.createdAt);
    expect([...times].sort()).toEqual(times); // oldest first

    const byKey = JSON.parse(ok(await cli(['audit', '--key', first.apiKey.id, '--json'])).stdout) as { type: string; apiKeyId: string }[];
    expect(byKey.every((e) => e.apiKeyId === first.apiKey.id)).toBe(true);
    // (the hot path's partner.* events of the key are in between)
    expect(byKey.map((e) => e.type).filter((t) => t.startsWith('api_key.'))).toEqual(['api_key.created', 'api_key.revoked']);

    const human = ok(await cli(['audit', '--type', 'api_key.revoked'])).stdout;
    assertAligned(human, ['TIME', 'TYPE', 'ORG', 'KEY', 'ACTOR', 'DETAILS']);
    expect(human).toMatch(new RegExp(`api_key\\.revoked\\s+acme-cli\\s+${third.apiKey.id}\\s+sql\\s+\\{"via":"sql"`));
    for (const s of secrets) expect(human).not.toContain(s);
  });

  it('audit --follow --json prints new events as JSON lines until interrupted (exit 0)', async () => {
    const fourth = await mint('acme-cli');
    const child = startCli(['audit', '--org', 'acme-cli', '--follow', '--json', '--limit', '1'], {
      env: { VOKE_AUTH_URL: service.adminUrl, VOKE_AUTH_TOKEN: TEST_ADMIN_TOKEN, VOKE_AUTH_FOLLOW_INTERVAL_MS: '200' },
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await expect.poll(() => out.split('\n').filter(Boolean).length, { timeout: 20_000 }).toBe(1);
      await db.sql`UPDATE api_keys SET is_active = false WHERE id = ${fourth.apiKey.id}`;
      await expect
        .poll(
          () =>
            out
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l))
              .filter((e) => e.apiKeyId === fourth.apiKey.id && e.type === 'api_key.revoked').length,
          { timeout: 20_000 },
        )
        .toBe(1);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    const lines = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(new Set(lines.map((e) => e.id)).size).toBe(lines.length); // nothing printed twice
  });

  it('no message on standard error ever held a key or signing key', () => {
    expect(secrets.length).toBeGreaterThan(4);
    for (const err of run.stderrs) for (const s of secrets) expect(err).not.toContain(s);
  });
});
