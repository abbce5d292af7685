// What `npm start` checks before it starts a database or writes a secret: that no other
// instance holds its DATA_DIR, and that both listeners' ports are free. Each failure is one
// line for the operator and its own exit code (docs/operations.md, Exit codes).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export class PreflightError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** sysexits.h: EX_CANTCREAT, the instance lock is held by another process. */
export const EXIT_DATA_DIR_IN_USE = 73;
/** sysexits.h: EX_TEMPFAIL, a port is taken (try again later, or elsewhere). */
export const EXIT_PORT_IN_USE = 75;

export const LOCK_FILE = 'voke-auth.pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes DATA_DIR for this process (DATA_DIR/voke-auth.pid, created exclusively). A lock left by
 * a process that no longer runs is taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string, pid = process.pid): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== pid && alive(holder)) {
        throw new PreflightError(
          `another voke-auth (pid ${holder}) is running on DATA_DIR ${dataDir}; stop it, or give this one another DATA_DIR`,
          EXIT_DATA_DIR_IN_USE,
        );
      }
      rmSync(file, { force: true }); // stale: its process is gone
      continue;
    }
    writeSync(fd, `${pid}\n`);
    closeSync(fd);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      try {
        if (readFileSync(file, 'utf8').trim() === String(pid)) rmSync(file, { force: true });
      } catch {
        // already gone
      }
    };
  }
  throw new PreflightError(`could not take ${file}: it keeps reappearing`, EXIT_DATA_DIR_IN_USE);
}

/** Binds and releases the port: EADDRINUSE now means the listener would fail after the database started. */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export function portInUseMessage(listener: 'auth' | 'admin', port: number): string {
  return `${listener} listener port ${port} is in use (set ${listener === 'auth' ? 'AUTH_PORT' : 'ADMIN_PORT'})`;
}

export async function checkPorts(host: string, ports: { auth: number; admin: number }): Promise<void> {
  for (const listener of ['auth', 'admin'] as const) {
    const port = ports[listener];
    if (port === 0) continue; // any free port
    if (!(await portFree(host, port))) throw new PreflightError(portInUseMessage(listener, port), EXIT_PORT_IN_USE);
  }
}
