// `npm run migrate`: apply pending migrations and exit.
import { loadConfig } from '../config/index.js';
import { migrate } from './migrate.js';
import { openDatabase } from './open.js';

const { config } = loadConfig();
const db = await openDatabase(config, (m) => console.error(m));
try {
  const applied = await migrate(db.sql);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
} finally {
  await db.close();
}
