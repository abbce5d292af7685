import type { Config } from '../config/index.js';
import { connect, type Database } from './db.js';
import { startEmbeddedPostgres } from './embedded.js';

/** DATABASE_URL when set, else the embedded cluster for DATA_DIR (local use only). */
export async function openDatabase(config: Config, log: (msg: string) => void): Promise<Database> {
  if (config.databaseUrl) {
    const sql = connect(config.databaseUrl);
    return { sql, url: config.databaseUrl, close: () => sql.end({ timeout: 5 }) };
  }
  log(`DATABASE_URL is unset: starting embedded PostgreSQL for ${config.dataDir} (local use only)`);
  const cluster = await startEmbeddedPostgres(config.dataDir, log);
  log(`embedded PostgreSQL is up, its data in ${cluster.location}`);
  const sql = connect(cluster.url);
  return {
    sql,
    url: cluster.url,
    close: async () => {
      await sql.end({ timeout: 5 });
      await cluster.stop();
    },
  };
}
