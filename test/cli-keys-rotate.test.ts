// `voke-auth keys rotate` against the rotate route, as a process against a running service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOverlap } from '../src/cli/commands/keys.js';
import { cliFor, ok } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { askAuth, startTestService, TEST_ADMIN_TOKEN } from './support/service.js';

let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let run: ReturnType<typeof cliFor>;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  run = cliFor(service.adminUrl!, TEST_ADMIN_TOKEN);
  expect((await run.cli(['orgs', 'create', 'rot-cli', '--name', 'rot-cli'])).code).toBe(0);
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const cli = (args: string[]) => run.cli(args);

async function mint(): Promise<{ key: string; apiKey: { id: string; keyPrefix: string } }> {
  return JSON.parse(ok(await cli(['keys', 'mint', '--org', 'rot-cli', '--name', 'k', '--partner-id', 'esm', '--scopes', 'vcp:connect', '--json'])).stdout);
}

describe('keys rotate', () => {
  it("--json: exactly the route's answer; the new key logs in, the old one until the overlap ends", async () => {
    const k = await mint();
    const r = JSON.parse(ok(await cli(['keys', 'rotate', k.apiKey.keyPrefix, '--org', 'rot-cli', '--overlap', '90m', '--json'])).stdout);
    expect(Object.keys(r).sort()).toEqual(['apiKey', 'connection', 'key', 'previousKeyExpiresAt']);
    expect(r.apiKey).toMatchObject({ id: k.apiKey.id, previousKeyPrefix: k.apiKey.keyPrefix });
    expect(Date.parse(r.previousKeyExpiresAt) - Date.now()).toBeGreaterThan(90 * 60_000 - 30_000);
    await expect.poll(async () => (await askAuth(service.authUrl, 'user', { username: 'rot-cli', password: r.key })).body).toMatch(/vcp-gen-1$/);
    expect((await askAuth(service.authUrl, 'user', { username: 'rot-cli', password: k.key })).body).toBe(`allow vcp-key-${k.apiKey.id}`);
    const events = JSON.parse(ok(await cli(['audit', '--key', k.apiKey.id, '--type', 'api_key.rotated', '--json'])).stdout);
    expect(events).toHaveLength(1);
  });

  it('as text: prints the new key once with the previous prefix and its end; a warning on stderr; keys show shows the overlap', async () => {
    const k = await mint();
    const r = ok(await cli(['keys', 'rotate', k.apiKey.id]));
    const key = /key\s+(voke_[A-Za-z0-9]{46})/.exec(r.stdout)?.[1];
    expect(key).toBeDefined();
    expect(r.stdout).toContain(k.apiKey.keyPrefix);
    expect(r.stderr).toMatch(/shown once/);
    const show = ok(await cli(['keys', 'show', k.apiKey.id]));
    expect(show.stdout).toMatch(new RegExp(`previous prefix\\s+${k.apiKey.keyPrefix} \\(valid until `));
    expect(show.stdout).not.toContain(key!);
  });

  it('--overlap 0 is the emergency rotation; a bad --overlap is a usage error (exit 2) and changes nothing', async () => {
    const k = await mint();
    const r = JSON.parse(ok(await cli(['keys', 'rotate', k.apiKey.id, '--overlap', '0', '--json'])).stdout);
    expect(Math.abs(Date.parse(r.previousKeyExpiresAt) - Date.now())).toBeLessThan(10_000);
    for (const bad of ['8d', '-1', 'soon', '1.5h']) {
      const e = await cli(['keys', 'rotate', k.apiKey.id, '--overlap', bad]);
      expect(e.code, bad).toBe(2);
    }
    const [row] = await db.sql<{ keyGeneration: number }[]>`SELECT key_generation FROM api_keys WHERE id = ${k.apiKey.id}`;
    expect(row!.keyGeneration).toBe(1);
  });

  it('a revoked key: exit 1 with the reason', async () => {
    const k = await mint();
    ok(await cli(['keys', 'revoke', k.apiKey.id]));
    const r = await cli(['keys', 'rotate', k.apiKey.id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/revoked/i);
  });

  it('parseOverlap: units s, m, h, d and plain seconds', () => {
    expect([parseOverlap('24h'), parseOverlap('90m'), parseOverlap('7d'), parseOverlap('45'), parseOverlap('30s'), parseOverlap('x')]).toEqual([
      86_400,
      5400,
      604_800,
      45,
      30,
      undefined,
    ]);
  });
});

it('no message on standard error ever held a key', () => {
  for (const err of run.stderrs) expect(err).not.toMatch(/voke_[A-Za-z0-9]{46}/);
});
