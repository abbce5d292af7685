// `npm start`: load configuration, start both listeners, stop gracefully on SIGTERM/SIGINT/SIGHUP.
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './log.js';
import { errorForLog } from './secrets.js';
import { startService, type RunningService } from './service.js';
import { EmbeddedPostgresError } from './store/embedded.js';

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

// Installed before the start: a signal while the database starts must not leave it running.
let service: RunningService | undefined;
let stopSignal: NodeJS.Signals | undefined;
function stop(): void {
  log.info({ signal: stopSignal }, 'stopping: finishing in-flight requests, flushing usage');
  service!.stop().then(
    () => process.exit(0),
    (err) => {
      log.error({ err: errorForLog(err) }, 'unclean stop');
      process.exit(1);
    },
  );
}
// SIGHUP too: a closed terminal must not leave the embedded database behind (own process group).
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopSignal) return;
    stopSignal = signal;
    if (service) stop(); // else: stopped as soon as it is up
  });
}

try {
  service = await startService({ config, log });
} catch (err) {
  if (!(err instanceof EmbeddedPostgresError)) throw err;
  console.error(`voke-auth: ${err.message}`);
  process.exit(69); // EX_UNAVAILABLE
}
const broker = config.rabbitmqManagementUrl ? { broker: 'configured', brokerNodes: config.rabbitmqManagementUrls.length, queueType: config.brokerQueueType } : { broker: 'not configured' };
log.info({ auth: service.authUrl, admin: service.adminUrl, ...broker }, 'voke-auth listening');
if (stopSignal) stop();
