// `npm run migrate`: apply pending migrations and exit.
import { ConfigError, loadConfig } from '../config/index.js';
import { EmbeddedPostgresError } from './embedded.js';
import { migrate } from './migrate.js';
import { openDatabase } from './open.js';

try {
  const { config } = loadConfig();
  const db = await openDatabase(config, (m) => console.error(m));
  try {
    const applied = await migrate(db.sql);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
  } finally {
    await db.close();
  }
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`voke-auth migrate: refusing to start: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  if (err instanceof EmbeddedPostgresError) {
    console.error(`voke-auth migrate: ${err.message}`);
    process.exit(69); // EX_UNAVAILABLE
  }
  throw err;
}
