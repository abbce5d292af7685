// A supervisor's SIGTERM to the `npm start` process stops the service and its
// embedded PostgreSQL, gracefully, within 15 s, leaving no process and no bound port behind.
// (npm forwards the signal to its child; `sh -c` did not pass it on, so `npm start` execs.)
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../src/net/free-port.js';
import { clusterHome } from '../src/store/embedded.js';
import { cleanEnv, descendants, run, stillRunning, waitForOk } from './support/processes.js';

const canBind = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

it('SIGTERM to npm start stops the service and its embedded database, leaving nothing behind', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'voke-auth-npm-start-'));
  const [authPort, adminPort] = [await freePort(), await freePort()];
  const npm = run('npm', ['start'], process.cwd(), cleanEnv({ DATA_DIR: dataDir, AUTH_PORT: String(authPort), ADMIN_PORT: String(adminPort) }));
  try {
    expect(await waitForOk(`http://127.0.0.1:${adminPort}/healthz`, npm, 120_000), npm.output()).toBe(true);
    const below = descendants(npm.child.pid!);
    // The service's node and the embedded postgres (with its own workers) run below npm.
    expect(below.map((p) => p.comm)).toEqual(expect.arrayContaining(['node', 'postgres']));

    npm.child.kill('SIGTERM');
    const stopped = await Promise.race([npm.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000))]);
    expect(stopped, npm.output()).not.toBe('still running');
    expect(npm.output()).toContain('stopping: finishing in-flight requests, flushing usage');
    expect(stillRunning(below)).toEqual([]);
    expect(await canBind(authPort)).toBe(true);
    expect(await canBind(adminPort)).toBe(true);
  } finally {
    npm.child.kill('SIGKILL');
    rmSync(clusterHome(dataDir), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 180_000);
