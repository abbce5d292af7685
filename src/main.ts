// `npm start`: load configuration, start both listeners, stop gracefully on SIGTERM/SIGINT/SIGHUP.
import { ConfigError, type Environment, type LoadedConfig, parseEnvironment, placementOf, resolveConfig } from './config/index.js';
import { createLogger } from './log.js';
import { checkPorts, EXIT_PORT_IN_USE, lockDataDir, PreflightError, portInUseMessage } from './preflight.js';
import { errorForLog } from './secrets.js';
import { type RunningService, startService } from './service.js';
import { EmbeddedPostgresError } from './store/embedded.js';

function refuse(message: string, exitCode: number): never {
  console.error(`voke-auth: ${message}`);
  process.exit(exitCode);
}

let env: Environment;
try {
  env = parseEnvironment();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  refuse(`refusing to start: ${err.message}`, 78); // EX_CONFIG
}

// Before any database cluster or secret is created: the data folder is ours, the ports are free.
const placement = placementOf(env);
let releaseDataDir = () => {};
try {
  if (placement.embeddedDatabase) releaseDataDir = lockDataDir(placement.dataDir);
  process.on('exit', () => releaseDataDir());
  await checkPorts(placement.host, { auth: placement.authPort, admin: placement.adminPort });
} catch (err) {
  if (!(err instanceof PreflightError)) throw err;
  refuse(err.message, err.exitCode);
}

let loaded: LoadedConfig;
try {
  loaded = resolveConfig(env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  refuse(`refusing to start: ${err.message}`, 78);
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
    () => {
      log.info('stopped');
      process.exit(0);
    },
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
  if (err instanceof EmbeddedPostgresError) refuse(err.message, 69); // EX_UNAVAILABLE
  const e = err as NodeJS.ErrnoException & { port?: number };
  // Taken between the check above and the bind (the database is stopped on the way out).
  if (e.code === 'EADDRINUSE') {
    refuse(portInUseMessage(e.port === config.adminPort ? 'admin' : 'auth', e.port ?? config.authPort), EXIT_PORT_IN_USE);
  }
  throw err;
}
const broker = config.rabbitmqManagementUrl
  ? { broker: 'configured', brokerNodes: config.rabbitmqManagementUrls.length, queueType: config.brokerQueueType }
  : { broker: 'not configured' };
log.info({ auth: service.authUrl, admin: service.adminUrl, ...broker }, 'voke-auth listening');
if (stopSignal) stop();
