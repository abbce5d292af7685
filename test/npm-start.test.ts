// A supervisor's SIGTERM to the `npm start` process stops the service and its
// embedded PostgreSQL, gracefully, within 15 s, leaving no process and no bound port behind.
// (npm forwards the signal to its child; `sh -c` did not pass it on, so `npm start` execs.)
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
    // Where the embedded database listens is logged, without its password.
    expect(npm.output()).toMatch(/embedded PostgreSQL listening on postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres/);
    expect(npm.output()).not.toContain('voke-local');

    // A second start on the same data folder names the running instance, and starts nothing.
    const holder = Number(readFileSync(join(dataDir, 'voke-auth.pid'), 'utf8'));
    expect(below.map((p) => p.pid)).toContain(holder);
    const second = run(
      'npm',
      ['start'],
      process.cwd(),
      cleanEnv({ DATA_DIR: dataDir, AUTH_PORT: String(await freePort()), ADMIN_PORT: String(await freePort()) }),
    );
    const secondExit = await second.exited;
    expect(secondExit.code, second.output()).toBe(73);
    expect(second.output()).toContain(`voke-auth: another voke-auth (pid ${holder}) is running on DATA_DIR ${dataDir}`);
    expect(second.output()).not.toMatch(/postgres|database system/i);

    npm.child.kill('SIGTERM');
    const stopped = await Promise.race([npm.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000))]);
    expect(stopped, npm.output()).not.toBe('still running');
    expect(npm.output()).toContain('stopping: finishing in-flight requests, flushing usage');
    const lastLine = npm
      .output()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .at(-1)!;
    expect(JSON.parse(lastLine).msg).toBe('stopped');
    expect(existsSync(join(dataDir, 'voke-auth.pid'))).toBe(false);
    expect(stillRunning(below)).toEqual([]);
    expect(await canBind(authPort)).toBe(true);
    expect(await canBind(adminPort)).toBe(true);
  } finally {
    npm.child.kill('SIGKILL');
    rmSync(clusterHome(dataDir), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 180_000);
