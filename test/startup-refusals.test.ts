// What `npm start` says when it cannot start: one line on standard error, an exit code of its
// own, and nothing created (no database cluster, no generated secrets) in DATA_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/net/free-port.js';
import { EXIT_DATA_DIR_IN_USE, EXIT_PORT_IN_USE, LOCK_FILE, lockDataDir, PreflightError } from '../src/preflight.js';

const dirs: string[] = [];
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'voke-auth-refusals-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

async function occupied(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe('npm start refuses with one line', () => {
  it('LOG_LEVEL=loud: exit 78, naming the variable and the levels; nothing written', () => {
    const dir = dataDir();
    const r = start({ DATA_DIR: dir, LOG_LEVEL: 'loud' });
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr.trim().split('\n')).toEqual([
      'voke-auth: refusing to start: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
    expect(readdirSync(dir)).toEqual([]);
  }, 70_000);

  it('NODE_ENV=prod: exit 78 instead of running in development mode', () => {
    const dir = dataDir();
    const r = start({ DATA_DIR: dir, NODE_ENV: 'prod' });
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr.trim()).toBe('voke-auth: refusing to start: NODE_ENV must be one of production, development, test, got "prod"');
    expect(readdirSync(dir)).toEqual([]);
  }, 70_000);

  it('the auth port in use: exit 75, one line naming it and AUTH_PORT, before any database or secret', async () => {
    const dir = dataDir();
    const { port, server } = await occupied();
    try {
      const r = start({ DATA_DIR: dir, AUTH_PORT: String(port), ADMIN_PORT: String(await freePort()) });
      expect(r.status, r.stderr).toBe(EXIT_PORT_IN_USE);
      expect(r.stderr.trim()).toBe(`voke-auth: auth listener port ${port} is in use (set AUTH_PORT)`);
      expect(r.stdout).toBe('');
      expect(readdirSync(dir)).toEqual([]); // no pg/, no local-secrets.json, the lock released
    } finally {
      server.close();
    }
  }, 70_000);

  it('the admin port in use names ADMIN_PORT', async () => {
    const dir = dataDir();
    const { port, server } = await occupied();
    try {
      const r = start({ DATA_DIR: dir, AUTH_PORT: String(await freePort()), ADMIN_PORT: String(port) });
      expect(r.status, r.stderr).toBe(EXIT_PORT_IN_USE);
      expect(r.stderr.trim()).toBe(`voke-auth: admin listener port ${port} is in use (set ADMIN_PORT)`);
    } finally {
      server.close();
    }
  }, 70_000);

  it('a DATA_DIR held by a running process: exit 73 naming its pid, nothing started', () => {
    const dir = dataDir();
    writeFileSync(join(dir, LOCK_FILE), `${process.pid}\n`); // this test runner: alive
    const r = start({ DATA_DIR: dir });
    expect(r.status, r.stderr).toBe(EXIT_DATA_DIR_IN_USE);
    expect(r.stderr.trim()).toBe(`voke-auth: another voke-auth (pid ${process.pid}) is running on DATA_DIR ${dir}; stop it, or give this one another DATA_DIR`);
    expect(readdirSync(dir)).toEqual([LOCK_FILE]);
  }, 70_000);
});

describe('the DATA_DIR lock', () => {
  it('is taken over from a process that no longer runs, and released by its holder only', () => {
    const dir = dataDir();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, LOCK_FILE), `${dead.stdout}\n`);
    const release = lockDataDir(dir, 4242424);
    expect(() => lockDataDir(dir, 4242425)).not.toThrow(); // 4242424 does not run: stale
    release(); // the file is 4242425's now: not removed
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });

  it('refuses while its holder runs', () => {
    const dir = dataDir();
    lockDataDir(dir, process.pid);
    expect(() => lockDataDir(dir, process.pid + 1)).toThrow(PreflightError);
  });
});
