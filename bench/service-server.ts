// The real voke-auth auth listener for `npm run bench`, started as a child process so that the
// load generator does not share its event loop. PostgreSQL: a fresh database on DATABASE_URL's
// server if set (dropped again on exit), else embedded PostgreSQL in a temp dir (removed on exit).
// Seeds org `acme` and one key with vcp:connect, vcp:read (bench:rest) + every vcp:write:* scope, warms the key cache
// with one login, then prints {port, username, password, keyId, vhost} as one JSON line on
// stdout; a `cpu` line on stdin is answered with {cpu: process.cpuUsage()}. Exits (cleaning up)
// on SIGTERM/SIGINT or when stdin closes. BENCH_KEYS=N adds N more active keys of another
// organization to the table (hot-path throughput against the table's size).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { displayPrefix, generateApiKey } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hash.js';
import { createLogger } from '../src/log.js';
import { WRITE_SCOPES } from '../src/policy/scopes.js';
import { type RunningService, startService } from '../src/service.js';
import { connect, type Sql } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { insertBulkKeys } from './bulk-keys.js';
import { serveParent } from './children.js';
import { benchDatabase, type Cleanup } from './database.js';

const USERNAME = 'acme';
const cleanups: Cleanup[] = [];

/** The rows an ops script would write (as test/support/seed.ts does), with the current pepper. */
async function seed(sql: Sql, pepper: Buffer): Promise<{ key: string; keyId: string; vhost: string }> {
  const [org] = await sql<{ id: string }[]>`INSERT INTO organizations (slug, name) VALUES (${USERNAME}, 'ACME') RETURNING id`;
  // BENCH_KEY_ID: the same key id (so the same vhost and tags) as another service of the run.
  const keyId = process.env.BENCH_KEY_ID ?? randomUUID();
  const key = generateApiKey();
  const vhost = `partner-${keyId}`;
  await sql`
    INSERT INTO api_keys (id, organization_id, key_hash, key_prefix, name, partner_id, scopes, vhost)
    VALUES (${keyId}, ${org!.id}, ${new KeyHasher([pepper]).current(key)}, ${displayPrefix(key)}, 'bench key', 'bench',
            ${['vcp:connect', 'vcp:read', ...WRITE_SCOPES]}, ${vhost})`;
  return { key, keyId, vhost };
}

let stopping: Promise<void> | undefined;
function stop(code: number): Promise<void> {
  return (stopping ??= (async () => {
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch (err) {
        process.stderr.write(`bench service: cleanup failed: ${String(err)}\n`);
      }
    }
    process.exit(code);
  })());
}
// Signals and a closed stdin run the ordered cleanup above (final usage flush, DROP DATABASE,
// cluster stop, rm).
const TLS_DIR = process.env.BENCH_TLS_DIR;
serveParent(() => void stop(0));
process.on('SIGHUP', () => void stop(0));

/** POST /auth/user, over HTTPS with the broker's client certificate when BENCH_TLS_DIR is set. */
function login(authUrl: string, form: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const tls = TLS_DIR
      ? {
          ca: readFileSync(join(TLS_DIR, 'ca.pem')),
          cert: readFileSync(join(TLS_DIR, 'broker.pem')),
          key: readFileSync(join(TLS_DIR, 'broker-key.pem')),
          servername: 'localhost',
        }
      : {};
    const req = (TLS_DIR ? httpsRequest : httpRequest)(
      `${authUrl}/auth/user`,
      { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, ...tls },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(form);
  });
}

try {
  const dataDir = mkdtempSync(join(tmpdir(), 'voke-auth-bench-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const pepper = randomBytes(32).toString('base64url');
  const { config } = loadConfig({
    API_KEY_PEPPER: pepper,
    SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ADMIN_TOKENS: `vadm_${randomBytes(24).toString('base64url')}`,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    HOST: '127.0.0.1',
    AUTH_PORT: '0',
    ADMIN_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    // BENCH_TLS_DIR: HTTPS with the files generateAuthTlsCerts writes (the broker's client certificate required).
    ...(TLS_DIR
      ? { AUTH_TLS_CERT: join(TLS_DIR, 'voke-auth.pem'), AUTH_TLS_KEY: join(TLS_DIR, 'voke-auth-key.pem'), AUTH_TLS_CA: join(TLS_DIR, 'ca.pem') }
      : {}),
  });
  const databaseUrl = await benchDatabase(cleanups, (m) => process.stderr.write(`${m}\n`));
  const extraKeys = Number(process.env.BENCH_KEYS ?? 0);
  if (extraKeys > 0) {
    const sql = connect(databaseUrl, { max: 1 });
    await migrate(sql);
    await insertBulkKeys(sql, extraKeys);
    await sql.end({ timeout: 2 });
  }
  const service: RunningService = await startService({
    config,
    log: createLogger('warn', process.stderr),
    databaseUrl,
    admin: false,
  });
  cleanups.unshift(() => service.stop());

  const { key, keyId, vhost } = await seed(service.db.sql, Buffer.from(pepper, 'utf8'));

  // One login, as the broker's first call of a connection, once the key's NOTIFY has put it in the
  // table: before that a login is a database lookup, which a loaded machine can take past the
  // answer deadline (a deny).
  for (const until = Date.now() + 10_000; service.table.byId(keyId) === undefined && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
  const { status, body } = await login(service.authUrl, new URLSearchParams({ username: USERNAME, password: key }).toString());
  if (status !== 200 || body !== `allow vcp-key-${keyId}`) throw new Error(`warm-up login answered ${status} "${body}"`);

  const port = Number(new URL(service.authUrl).port);
  process.stderr.write(`bench service: ${service.table.size} keys in the table\n`);
  process.stdout.write(`${JSON.stringify({ port, username: USERNAME, password: key, keyId, vhost })}\n`);
} catch (err) {
  process.stderr.write(`bench service: could not start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stop(1);
}
