// `npm run broker`: a private RabbitMQ node for local use, in the foreground until Ctrl-C,
// configured from the repo's rabbitmq.conf, definitions.json and enabled_plugins and asking the
// local voke-auth (http://127.0.0.1:$AUTH_PORT/auth/...). No Docker, no system service: the
// Debian package's 3.10 or an unpacked 4.x folder (scripts/rabbitmq-tree.sh), its data in
// $DATA_DIR/rabbitmq-<line>. Prints the URLs and the variables to give `npm start`.
//
//   BROKER_LINE=3.10|4.0|4.3   the release line (default: 4.3 if its folder can be built, else 3.10)
//   BROKER_AMQP_PORT           plain AMQP on 127.0.0.1 (default 5672)
//   BROKER_MANAGEMENT_PORT     management API and UI on 127.0.0.1 (default 15672)
//   AUTH_PORT                  where voke-auth's auth listener is (default 8080)
//   DATA_DIR                   default ./.data
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import {
  BROKER_VERSIONS,
  type BrokerVersion,
  installedVersion,
  LOCAL_INSTALLS,
  nodeEnvironment,
  nodeFolders,
  prepareLocalInstall,
  REPO_CONF,
  REPO_PLUGINS,
  renderBrokerConfig,
  renderDefinitions,
  sleep,
  tail,
  waitReady,
} from './rabbitmq-node.js';

const HOST = '127.0.0.1';

function fail(message: string, code = 1): never {
  console.error(`broker: ${message}`);
  process.exit(code);
}

function portSetting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`${name} must be a port number, got "${raw}"`, 78);
  return n;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Any free port for the Erlang distribution (rabbitmqctl talks to the node through it). */
function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** BROKER_LINE, else the current line (4.3) when its folder is there or can be built, else 3.10. */
function chooseLine(): BrokerVersion {
  const wanted = process.env.BROKER_LINE;
  if (wanted) {
    if (!BROKER_VERSIONS.includes(wanted as BrokerVersion)) fail(`BROKER_LINE must be one of ${BROKER_VERSIONS.join(', ')}, got "${wanted}"`, 78);
    if (wanted !== '3.10') console.log(`broker: preparing RabbitMQ ${wanted} (scripts/rabbitmq-tree.sh ${wanted}; the first time takes 15-30 s)`);
    const ready = prepareLocalInstall(wanted as BrokerVersion);
    if (!ready.ok) fail(ready.reason, 69);
    return wanted as BrokerVersion;
  }
  for (const line of ['4.3', '3.10'] as const) {
    if (line === '4.3') console.log('broker: preparing RabbitMQ 4.3 (scripts/rabbitmq-tree.sh 4.3; the first time takes 15-30 s)');
    const ready = prepareLocalInstall(line);
    if (ready.ok) return line;
    console.log(`broker: ${ready.reason}`);
  }
  fail('no RabbitMQ to start: install the Debian package (apt-get install rabbitmq-server) or let scripts/rabbitmq-tree.sh 4.3 build a folder', 69);
}

const line = chooseLine();
const amqpPort = portSetting('BROKER_AMQP_PORT', 5672);
const managementPort = portSetting('BROKER_MANAGEMENT_PORT', 15672);
const authPort = portSetting('AUTH_PORT', 8080);
for (const [name, port] of [
  ['BROKER_AMQP_PORT', amqpPort],
  ['BROKER_MANAGEMENT_PORT', managementPort],
] as const) {
  if (!(await portFree(port))) fail(`port ${port} is in use (another RabbitMQ? set ${name})`, 75);
}

// One folder per line: its database (vhosts provisioned by voke-auth survive a restart), logs,
// the rendered configuration and the node's private HOME (Erlang cookie).
const dir = path.resolve(process.env.DATA_DIR || './.data', `rabbitmq-${line}`);
const { home, mnesia, logDir } = nodeFolders(dir);
const defs = renderDefinitions({ keepPasswords: true });
const definitionsPath = path.join(dir, 'definitions.json');
writeFileSync(definitionsPath, defs.json);
const confPath = path.join(dir, 'rabbitmq.conf');
writeFileSync(
  confPath,
  renderBrokerConfig(readFileSync(REPO_CONF, 'utf8'), {
    version: line,
    bindHost: HOST,
    amqpPort,
    managementPort,
    authBaseUrl: `http://${HOST}:${authPort}`,
    definitionsPath,
  }),
);
const pluginsPath = path.join(dir, 'enabled_plugins');
copyFileSync(REPO_PLUGINS, pluginsPath);
const envFile = path.join(dir, 'rabbitmq-env.conf');
if (!existsSync(envFile)) writeFileSync(envFile, '');

const install = LOCAL_INSTALLS[line];
const nodeName = `voke-local-${line.replace('.', '')}@localhost`;
const env = nodeEnvironment(install, nodeName, await anyFreePort(), {
  home,
  mnesia,
  logDir,
  confPath,
  pluginsPath,
  envFile,
  advancedConfigPath: path.join(dir, 'advanced.config'),
});

const version = installedVersion(line) ?? line;
console.log(`broker: starting RabbitMQ ${version} as ${nodeName}, data in ${dir}`);
const out = openSync(path.join(logDir, 'stdout.log'), 'a');
// Its own process group, so that a stop reaches the start script and the Erlang VM alike.
const node = spawn(install.server, [], { env, detached: true, stdio: ['ignore', out, out] });
closeSync(out);
let exited = false;
const exitedP = new Promise<number | null>((resolve) =>
  node.once('exit', (code) => {
    exited = true;
    resolve(code);
  }),
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  // Once: a Ctrl-C reaches npm and this process alike, and npm passes its own on.
  if (stopping) return;
  stopping = true;
  console.log(`broker: ${signal}: stopping RabbitMQ (a few seconds)`);
  try {
    process.kill(-node.pid!, 'SIGTERM');
  } catch {
    // already gone
  }
  const code = await Promise.race([exitedP, sleep(20_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') {
    try {
      process.kill(-node.pid!, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  console.log('broker: stopped');
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));

const managementUrl = `http://${encodeURIComponent(defs.creds.adminUser)}:${encodeURIComponent(defs.creds.adminPassword)}@${HOST}:${managementPort}`;
const logFile = path.join(logDir, `${nodeName}.log`);
try {
  await waitReady({
    amqp: { host: HOST, port: amqpPort },
    overviewUrl: `http://${HOST}:${managementPort}/api/overview`,
    user: defs.creds.adminUser,
    password: defs.creds.adminPassword,
    timeoutMs: 120_000,
    died: () => exited,
    describe: () => `log (${logFile}):\n${tail(logFile)}\nstdout:\n${tail(path.join(logDir, 'stdout.log'), 20)}`,
  });
} catch (err) {
  console.error(`broker: ${(err as Error).message}`);
  if (!exited) process.kill(-node.pid!, 'SIGKILL');
  process.exit(1);
}

console.log(`broker: RabbitMQ ${version} is up (Ctrl-C stops it)
  management   http://${HOST}:${managementPort}  (user ${defs.creds.adminUser}, password ${defs.creds.adminPassword}: the development password of definitions.json)
  AMQP         amqp://${HOST}:${amqpPort}
  auth backend http://${HOST}:${authPort}/auth/{user,vhost,resource,topic}
  logs         ${logDir}

In another terminal, give these to npm start:

export RABBITMQ_MANAGEMENT_URL=${managementUrl} RABBITMQ_AMQP_URL=amqp://${HOST}:${amqpPort} PUBLIC_AMQP_HOST=${HOST} PUBLIC_AMQP_PORT=${amqpPort}
`);

const code = await exitedP;
if (!stopping) {
  console.error(`broker: RabbitMQ exited by itself (code ${code}); its log:\n${tail(logFile, 20)}`);
  process.exit(1);
}
