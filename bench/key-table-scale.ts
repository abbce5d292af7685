// `npm run bench:table -- 100000`: the key table at scale. Inserts N active keys into a fresh
// database (embedded PostgreSQL unless DATABASE_URL is set), then measures in this process:
// resident memory and heap above an empty table (after a full GC), the time of a whole load
// (what a start or a LISTEN reconnect costs; wall clock and this process's CPU), and in-memory
// lookups by hash and by id.
// Run once per size (a fresh process each time, so memory is not reused between sizes).
import { KeyTable } from '../src/cache/key-table.js';
import { findActiveKeysOfOrganization, findKeyByHashes, findKeyById, loadActiveKeys, rewriteKeyHash } from '../src/store/auth-keys.js';
import { connect } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { insertBulkKeys } from './bulk-keys.js';
import { benchDatabase, type Cleanup } from './database.js';

const count = Number(process.argv[2] ?? 100_000);
const exposedGc = (globalThis as { gc?: () => void }).gc;
if (!exposedGc) throw new Error('run with --expose-gc (npm run bench:table does)');
const gc: () => void = exposedGc;

const cleanups: Cleanup[] = [];
async function main(): Promise<void> {
  const url = await benchDatabase(cleanups);
  const sql = connect(url, { max: 2 });
  cleanups.unshift(() => sql.end({ timeout: 2 }));
  await migrate(sql);
  let t = performance.now();
  await insertBulkKeys(sql, count);
  await sql`ANALYZE api_keys`;
  const insertSeconds = (performance.now() - t) / 1000;

  const hashes = (await sql<{ keyHash: string; id: string }[]>`SELECT key_hash, id FROM api_keys ORDER BY random() LIMIT 10000`).map(
    (r) => [r.keyHash, r.id] as const,
  );
  // A fresh process's first load: into an empty table, code not yet warm.
  const table = new KeyTable(tableSourceOf(sql));
  gc();
  gc();
  const base = process.memoryUsage();
  t = performance.now();
  const cpu = process.cpuUsage();
  await table.reload();
  const loadSeconds = (performance.now() - t) / 1000;
  const loadCpu = process.cpuUsage(cpu);
  gc();
  gc();
  const after = process.memoryUsage();

  // in-memory lookups: the hot path's part of the table
  let found = 0;
  t = performance.now();
  const rounds = 200;
  for (let r = 0; r < rounds; r++) for (const [hash, id] of hashes) if (table.byHash(hash) !== undefined && table.byId(id) !== undefined) found++;
  const lookupNs = ((performance.now() - t) * 1e6) / (rounds * hashes.length);
  if (found !== rounds * hashes.length) throw new Error(`lookups found ${found} of ${rounds * hashes.length}`);

  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  const result = {
    keys: table.size,
    insertSeconds: Number(insertSeconds.toFixed(1)),
    loadSeconds: Number(loadSeconds.toFixed(2)),
    // this process's CPU during the load (user + system): what the machine's other load cannot inflate
    loadCpuSeconds: Number(((loadCpu.user + loadCpu.system) / 1e6).toFixed(2)),
    rssAboveEmptyMB: Number(mb(after.rss - base.rss)),
    heapAboveEmptyMB: Number(mb(after.heapUsed - base.heapUsed)),
    bytesPerKey: Math.round((after.heapUsed - base.heapUsed) / table.size),
    lookupNsPerHashAndId: Number(lookupNs.toFixed(0)),
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function tableSourceOf(sql: ReturnType<typeof connect>) {
  return {
    loadAll: (onRows: Parameters<typeof loadActiveKeys>[1]) => loadActiveKeys(sql, onRows),
    byHashes: (h: readonly string[]) => findKeyByHashes(sql, h),
    byId: (id: string) => findKeyById(sql, id),
    byOrganization: (id: string) => findActiveKeysOfOrganization(sql, id),
    rewriteHash: (id: string, from: string, to: string) => rewriteKeyHash(sql, id, from, to),
  };
}

let code = 0;
try {
  await main();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  code = 1;
}
for (const c of cleanups) {
  try {
    await c();
  } catch {
    /* best effort */
  }
}
process.exit(code);
