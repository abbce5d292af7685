// `npm run broker` (scripts/broker.ts) as a newcomer uses it: it starts a private RabbitMQ node
// and prints the variables for the service; a service given them mints a key whose broker
// self-test passes, a partner connects with the key and publishes, a revocation closes the
// connection, and Ctrl-C stops the node.
import { type ChildProcess, spawn } from 'node:child_process';
import amqp from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tcpOpen } from '../scripts/rabbitmq-node.js';
import { freePort } from '../src/net/free-port.js';
import { describeBroker } from './support/broker.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { adminCaller, startTestService } from './support/service.js';
import { tempDir } from './support/temp.js';

await describeBroker('npm run broker', (version) => {
  let db: TestDatabase;
  let script: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;
  let printed: Record<string, string> = {};
  let amqpPort: number;
  let service: Awaited<ReturnType<typeof startTestService>> | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    const [authPort, managementPort] = [await freePort(), await freePort()];
    amqpPort = await freePort();
    script = spawn(process.execPath, ['--import', 'tsx', 'scripts/broker.ts'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...(process.env.RABBITMQ_CACHE_DIR ? { RABBITMQ_CACHE_DIR: process.env.RABBITMQ_CACHE_DIR } : {}),
        BROKER_LINE: version,
        BROKER_AMQP_PORT: String(amqpPort),
        BROKER_MANAGEMENT_PORT: String(managementPort),
        AUTH_PORT: String(authPort),
        DATA_DIR: tempDir('voke-local-broker-'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    script.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    script.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    exited = new Promise((resolve) => script.once('exit', (code) => resolve(code)));
    const until = Date.now() + 240_000;
    const exportLine = () => output.split('\n').find((l) => l.startsWith('export RABBITMQ_MANAGEMENT_URL='));
    while (!exportLine()) {
      if (Date.now() > until || script.exitCode !== null) throw new Error(`npm run broker did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const line = exportLine()!;
    printed = Object.fromEntries(
      line
        .slice('export '.length)
        .split(' ')
        .map((kv) => kv.split('=', 2) as [string, string]),
    );
    // The service as `npm start` would run with those variables, its auth listener where the broker asks.
    service = await startTestService(db.url, { env: { ...printed, AUTH_PORT: String(authPort) } });
  }, 300_000);

  afterAll(async () => {
    if (script && script.exitCode === null) {
      script.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (script.exitCode === null) script.kill('SIGKILL');
    }
    await service?.stop();
    await db?.drop();
  });

  it('prints the URLs and the variables for npm start: management, AMQP, public host and port', async () => {
    expect(Object.keys(printed)).toEqual(['RABBITMQ_MANAGEMENT_URL', 'RABBITMQ_AMQP_URL', 'PUBLIC_AMQP_HOST', 'PUBLIC_AMQP_PORT']);
    expect(printed.RABBITMQ_AMQP_URL).toBe(`amqp://127.0.0.1:${amqpPort}`);
    expect(printed).toMatchObject({ PUBLIC_AMQP_HOST: '127.0.0.1', PUBLIC_AMQP_PORT: String(amqpPort) });
    const url = new URL(printed.RABBITMQ_MANAGEMENT_URL!);
    const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    const overview = (await (await fetch(`${url.origin}/api/overview`, { headers: { authorization: auth } })).json()) as { rabbitmq_version: string };
    expect(overview.rabbitmq_version.startsWith(`${version}.`), overview.rabbitmq_version).toBe(true);
    expect(output).toContain(`management   ${url.origin}`);
  });

  it('a key minted through it passes the self-test; a partner connects and publishes; revoking closes the connection', async () => {
    const admin = adminCaller(service!.adminUrl);
    const org = await admin('POST', '/api/v1/admin/organizations', { slug: 'acme', name: 'ACME Energy' });
    expect(org.status).toBe(201);
    const mint = await admin('POST', '/api/v1/partner/api-keys', { name: 'ESM', partnerId: 'esm', scopes: ['vcp:connect', 'vcp:write:setpoint'] }, org.json.id);
    expect(mint.status, JSON.stringify(mint.json)).toBe(201);
    expect(mint.json.connection.selfTest.status).toBe('passed');

    // The README's partner: the bundle's URI, on plain AMQP.
    const uri = (mint.json.connection.uri as string).replace(/^amqps:/, 'amqp:');
    expect(uri).toContain(`@127.0.0.1:${amqpPort}/`);
    const conn = await amqp.connect(uri, { noDelay: true });
    const closed = new Promise<void>((resolve) => conn.on('close', () => resolve()));
    conn.on('error', () => {});
    const ch = await conn.createConfirmChannel();
    expect((await ch.checkQueue('vcp.acme.event.status')).queue).toBe('vcp.acme.event.status');
    ch.publish('vcp', 'acme.command.site-setpoint', Buffer.from('{"kW":5}'));
    await ch.waitForConfirms();

    const revoke = await admin('DELETE', `/api/v1/partner/api-keys/${mint.json.apiKey.id}`, undefined, org.json.id);
    expect(revoke.status).toBe(200);
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not closed within 15 s')), 15_000))]);
    await expect(amqp.connect(uri, { noDelay: true })).rejects.toThrow();
  }, 90_000);

  it('Ctrl-C stops the node and the script', async () => {
    script.kill('SIGINT');
    expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 40_000))]), output).toBe(0);
    expect(output).toContain('broker: stopped');
    expect(await tcpOpen('127.0.0.1', amqpPort)).toBe(false);
  }, 60_000);
});
