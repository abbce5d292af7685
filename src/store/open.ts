import type { Config } from '../config/index.js';
import { connect, startEmbeddedPostgres, type Database } from './db.js';

/** DATABASE_URL when set, else the embedded cluster in DATA_DIR (local use only). */
export async function openDatabase(config: Config, log: (msg: string) => void): Promise<Database> {
  if (config.databaseUrl) {
    const sql = connect(config.databaseUrl);
    return { sql, url: config.databaseUrl, close: () => sql.end({ timeout: 5 }) };
  }
  log(`DATABASE_URL is unset: starting embedded PostgreSQL in ${config.dataDir}/pg (local use only)`);
  const cluster = await startEmbeddedPostgres(config.dataDir, log);
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
