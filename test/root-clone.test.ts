// Both README commands work from a clone in a folder only its owner may enter (a
// home folder, `mktemp -d`), run as CI's user (root on CI). As root the embedded cluster runs as
// the `postgres` user, which cannot enter such a folder: its binaries and data must live where it
// can (src/store/embedded.ts). As non-root this runs the same way and must pass just the same.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../src/net/free-port.js';
import { clusterHome } from '../src/store/embedded.js';
import { cleanEnv, copyProject, run, waitForOk } from './support/processes.js';

let folder: string;
let clone: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'voke-auth-private-'));
  chmodSync(folder, 0o700);
  clone = join(folder, 'voke-auth');
  mkdirSync(clone);
  copyProject(clone);
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

it('the clone lives in a mode-700 folder', () => {
  expect(statSync(folder).mode & 0o777).toBe(0o700);
});

it('npm start serves from it with the embedded database', async () => {
  const adminPort = await freePort();
  const npm = run('npm', ['start'], clone, cleanEnv({ AUTH_PORT: String(await freePort()), ADMIN_PORT: String(adminPort) }));
  try {
    expect(await waitForOk(`http://127.0.0.1:${adminPort}/readyz`, npm, 120_000), npm.output()).toBe(true);
    npm.child.kill('SIGTERM');
    expect(await npm.exited).toEqual({ code: 0, signal: null });
  } finally {
    npm.child.kill('SIGKILL');
    rmSync(clusterHome(join(clone, '.data')), { recursive: true, force: true });
  }
}, 180_000);

it('the test harness runs from it on the embedded database', async () => {
  // One file that needs the database; the harness (global setup) starts embedded PostgreSQL.
  const vitest = run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/migrations.test.ts'], clone, cleanEnv({ NO_COLOR: '1' }));
  const { code } = await vitest.exited;
  expect(code, vitest.output()).toBe(0);
  expect(vitest.output()).toMatch(/Tests\s+\d+ passed \(\d+\)/);
}, 240_000);
