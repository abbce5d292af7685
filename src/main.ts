// `npm start`: load configuration, start both listeners, stop gracefully on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './log.js';
import { startService } from './service.js';

let loaded;
try {
  loaded = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`voke-auth: refusing to start: ${err.message}`);
  process.exit(78); // EX_CONFIG
}
const { config, warnings } = loaded;
const log = createLogger(config.logLevel);
for (const w of warnings) log.warn(w);

const service = await startService({ config, log });
log.info({ auth: service.authUrl, admin: service.adminUrl, broker: config.rabbitmqManagementUrl ? 'configured' : 'not configured' }, 'voke-auth listening');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight requests, flushing usage');
    service.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  });
}
