// A database of the bench's own: never the bench's rows in someone else's database. A fresh
// database on DATABASE_URL's server if set, else on embedded PostgreSQL in a temp dir.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/store/db.js';
import { startEmbeddedPostgres } from '../src/store/embedded.js';

export type Cleanup = () => Promise<void> | void;

/**
 * Creates the database and returns its URL. Its cleanups (DROP DATABASE, then the embedded
 * cluster's stop and its directory's removal) go to the front of `cleanups`, to run in order.
 */
export async function benchDatabase(cleanups: Cleanup[], log?: (message: string) => void): Promise<string> {
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'voke-auth-bench-pg-'));
    cleanups.unshift(() => rmSync(dir, { recursive: true, force: true }));
    const cluster = await startEmbeddedPostgres(dir, log, { temporary: true });
    cleanups.unshift(() => cluster.stop());
    adminUrl = cluster.url;
  }
  const name = `voke_bench_${randomBytes(6).toString('hex')}`;
  const admin = connect(adminUrl, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  cleanups.unshift(async () => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 2 });
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
