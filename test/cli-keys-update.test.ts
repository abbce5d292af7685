// `voke-auth keys update` against the PATCH route, as a process against a running service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliFor, ok } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { startTestService, TEST_ADMIN_TOKEN } from './support/service.js';

let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let run: ReturnType<typeof cliFor>;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startTestService(db.url);
  run = cliFor(service.adminUrl!, TEST_ADMIN_TOKEN);
  expect((await run.cli(['orgs', 'create', 'north-cli', '--name', 'north-cli'])).code).toBe(0);
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

const cli = (args: string[]) => run.cli(args);

async function mint(slug: string): Promise<{ key: string; apiKey: { id: string; keyPrefix: string } }> {
  const r = ok(await cli(['keys', 'mint', '--org', slug, '--name', 'k', '--partner-id', 'esm', '--scopes', 'vcp:connect', '--json']));
  return JSON.parse(r.stdout);
}

describe('keys update (PATCH)', () => {
  it('renames a key and changes its allowlist; --allowed-ips "" lifts it', async () => {
    const k = await mint('north-cli');
    const updated = JSON.parse(
      ok(await cli(['keys', 'update', k.apiKey.keyPrefix, '--org', 'north-cli', '--name', 'Renamed', '--allowed-ips', '10.0.0.0/8', '--json'])).stdout,
    );
    expect(updated).toMatchObject({ id: k.apiKey.id, name: 'Renamed', allowedIps: ['10.0.0.0/8'] });
    const lifted = JSON.parse(ok(await cli(['keys', 'update', k.apiKey.id, '--allowed-ips', '', '--json'])).stdout);
    expect(lifted.allowedIps).toEqual([]);
    const events = JSON.parse(ok(await cli(['audit', '--key', k.apiKey.id, '--type', 'api_key.updated', '--json'])).stdout);
    expect(events).toHaveLength(2);
  });
});

it('no message on standard error ever held a key', () => {
  for (const err of run.stderrs) expect(err).not.toMatch(/voke_[A-Za-z0-9]{46}/);
});
