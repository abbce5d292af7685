// What differs between broker lines, end to end (real broker, real service, amqplib partners):
// passive declares are checked from RabbitMQ 4.2.6 (so on 4.3, not on 3.10/4.0), and a refusal's
// reason reaches the client from 4.3.0, where the service sends it (docs/broker-versions.md).
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeMethods, serverBytes } from './support/amqp-close.js';
import { type BrokerVersion, describeBroker } from './support/broker.js';
import { type BrokerStack, startBrokerStack } from './support/e2e.js';
import { askAuth, metricSum, startTestService } from './support/service.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/** The lines whose broker understands `deny <reason>` and checks passive declares. */
const REASONS_FROM: readonly BrokerVersion[] = ['4.3'];

await describeBroker('broker lines: passive declares and refusal reasons', (version) => {
  const newLine = REASONS_FROM.includes(version);
  let stack: BrokerStack;
  let proxy: TcpProxy;
  const seen = serverBytes();
  const open: ChannelModel[] = [];

  beforeAll(async () => {
    stack = await startBrokerStack({ version });
    // What the broker sends partners who connect through it: the close texts amqplib hides.
    proxy = await startTcpProxy(stack.broker.amqpUrl, { watchServer: seen.watch });
    await stack.service.denyReasons.refresh();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await proxy?.close();
    await stack?.stop();
  }, 60_000);

  async function mint(scopes: string[], extra: Record<string, unknown> = {}) {
    const r = await stack.admin('POST', '/api/v1/partner/api-keys', { name: 'lines', partnerId: 'lines', scopes, ...extra }, stack.orgId);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json.connection.selfTest.status).toBe('passed'); // the self-test passes on every line
    return { key: r.json.key as string, id: r.json.apiKey.id as string, vhost: r.json.apiKey.vhost as string };
  }

  async function connect(key: string, vhost: string, base = stack.broker.amqpUrl) {
    const u = new URL(base);
    const c = await amqp.connect({ protocol: 'amqp', hostname: u.hostname, port: Number(u.port), username: 'acme', password: key, vhost }, { noDelay: true });
    c.on('error', () => {});
    open.push(c);
    return c;
  }

  async function channel(c: ChannelModel): Promise<Channel> {
    const ch = await c.createChannel();
    ch.on('error', () => {});
    return ch;
  }

  /** The error message of a refused operation, or 'ok'. */
  async function outcome(op: Promise<unknown>): Promise<string> {
    try {
      await op;
      return 'ok';
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** Publishes with a confirm; 'ok' or the channel's close message. */
  async function publish(c: ChannelModel, routingKey: string): Promise<string> {
    const ch = await c.createConfirmChannel();
    let closedWith = '';
    ch.on('error', (e: Error) => (closedWith = e.message));
    ch.publish('vcp', routingKey, Buffer.from('{}'));
    try {
      await ch.waitForConfirms();
      await ch.close();
      return 'ok';
    } catch (err) {
      return closedWith || (err as Error).message;
    }
  }

  /** How the broker words a refused permission: 3.10 leaves the permission out ("access to queue …"). */
  const access = (permission: 'configure' | 'write' | 'read') => (version === '3.10' ? 'access' : `${permission} access`);

  /** amqplib's text for a broker refusal with a reason (4.3) or without (3.10, 4.0). */
  const refusal = (what: string, reason: string) =>
    newLine ? `${what} refused for user 'acme' by backend rabbit_auth_backend_http: ${reason}"` : `${what} refused for user 'acme'"`;

  it(`detects the broker version: reasons ${newLine ? 'on' : 'off'}`, () => {
    expect(stack.service.denyReasons.brokerVersion?.startsWith(`${version}.`)).toBe(true);
    expect(stack.service.denyReasons.enabled).toBe(newLine);
  });

  it(`checkQueue on the event queues works; on the command queues it is ${newLine ? 'refused' : 'not checked'}`, async () => {
    const writer = await mint(['vcp:connect', 'vcp:write:mode']);
    const c = await connect(writer.key, writer.vhost);
    for (const q of ['telemetry', 'alarm', 'status']) {
      expect(await (await channel(c)).checkQueue(`vcp.acme.event.${q}`)).toMatchObject({ queue: `vcp.acme.event.${q}`, messageCount: 0 });
    }
    expect(await outcome((await channel(c)).checkExchange('vcp'))).toBe('ok'); // write on vcp
    for (const q of ['command', 'schedule', 'config']) {
      const r = await outcome((await channel(c)).checkQueue(`vcp.acme.${q}`));
      // 4.3 asks read, write, configure in turn and reports the last refusal; 3.10/4.0 ask nothing,
      // so a partner learns that the queue exists (and its message count).
      if (newLine)
        expect(r).toContain(
          refusal(
            `ACCESS_REFUSED - ${access('configure')} to queue 'vcp.acme.${q}' in vhost '${writer.vhost}'`,
            'partners declare nothing; passive declare needs read or write access',
          ),
        );
      else expect(r).toBe('ok');
    }
    // Not even 3.10/4.0 let a partner declare for real, or consume a command queue.
    expect(await outcome((await channel(c)).assertQueue('vcp.acme.mine'))).toContain(`ACCESS_REFUSED - ${access('configure')} to queue 'vcp.acme.mine'`);
    expect(await outcome((await channel(c)).consume('vcp.acme.command', () => {}))).toContain(
      refusal(
        `ACCESS_REFUSED - ${access('read')} to queue 'vcp.acme.command' in vhost '${writer.vhost}'`,
        'only the queues vcp.<slug>.event.* may be consumed',
      ),
    );

    // A key that may not publish has no permission on vcp: 4.3 refuses its passive declare too.
    const reader = await mint(['vcp:connect']);
    const rc = await connect(reader.key, reader.vhost);
    const r = await outcome((await channel(rc)).checkExchange('vcp'));
    if (newLine)
      expect(r).toContain(
        refusal(
          `ACCESS_REFUSED - ${access('configure')} to exchange 'vcp' in vhost '${reader.vhost}'`,
          'partners declare nothing; passive declare needs read or write access',
        ),
      );
    else expect(r).toBe('ok');
  });

  it(`a topic refusal ${newLine ? 'names the scope the routing key needs' : 'is a plain ACCESS_REFUSED'}`, async () => {
    const k = await mint(['vcp:connect', 'vcp:write:mode']);
    const c = await connect(k.key, k.vhost);
    expect(await publish(c, 'acme.command.mode')).toBe('ok');
    const topicDenials = () => metricSum(stack.service, 'voke_auth_decisions_total', { path: 'topic', result: 'deny' });
    const deniedBefore = await topicDenials();
    const where = `in exchange 'vcp' in vhost '${k.vhost}'`;
    expect(await publish(c, 'acme.command.site-setpoint')).toContain(
      refusal(`ACCESS_REFUSED - ${access('write')} to topic 'acme.command.site-setpoint' ${where}`, 'routing key needs scope vcp:write:setpoint'),
    );
    expect(await publish(c, 'other-org.command.mode')).toContain(
      refusal(`ACCESS_REFUSED - ${access('write')} to topic 'other-org.command.mode' ${where}`, 'routing key must start with the organization slug'),
    );
    expect(await publish(c, 'acme.command.emergency')).toContain(
      refusal(`ACCESS_REFUSED - ${access('write')} to topic 'acme.command.emergency' ${where}`, 'no scope allows this routing key'),
    );
    expect(await publish(c, 'acme.command.mode')).toBe('ok'); // channel-level refusals: the connection stays
    expect(await topicDenials()).toBe(deniedBefore + 3); // a refusal with a reason counts as a deny
  });

  it(`a vhost refusal ${newLine ? 'says why in the connection close text' : 'closes the connection without a reason'}`, async () => {
    const fenced = await mint(['vcp:connect'], { allowedIps: ['203.0.113.0/24'] });
    const other = await mint(['vcp:connect']);
    const before = seen.all().length;
    await expect(connect(fenced.key, fenced.vhost, proxy.url)).rejects.toThrow(/ConnectionOpenOk; got <ConnectionClose/);
    await expect(connect(other.key, fenced.vhost, proxy.url)).rejects.toThrow(/ConnectionOpenOk; got <ConnectionClose/);
    const texts = () =>
      seen
        .all()
        .slice(before)
        .map((bytes) => closeMethods(bytes).map((m) => `${m.code} ${m.text}`));
    const denied = (vhost: string, reason: string) =>
      `530 NOT_ALLOWED - access to vhost '${vhost}' refused for user 'acme'${newLine ? ` by backend rabbit_auth_backend_http: ${reason}` : ''}`;
    await expect
      .poll(texts)
      .toEqual([[denied(fenced.vhost, 'client address not in the allowlist of the API key')], [denied(fenced.vhost, 'vhost belongs to another API key')]]);
  });

  it('a login refusal is a plain deny on every line, whatever the key', async () => {
    const revoked = await mint(['vcp:connect']);
    expect((await stack.admin('DELETE', `/api/v1/partner/api-keys/${revoked.id}`, undefined, stack.orgId)).status).toBe(200);
    const auth = stack.service.authUrl;
    for (const password of [revoked.key, `${revoked.key.slice(0, -1)}x`, 'voke_not-a-key']) {
      expect((await askAuth(auth, 'user', { username: 'acme', password })).body).toBe('deny');
    }
    const before = seen.all().length;
    await expect(connect(revoked.key, revoked.vhost, proxy.url)).rejects.toThrow(/ACCESS.REFUSED/);
    await expect
      .poll(() =>
        seen
          .all()
          .slice(before)
          .flatMap((b) => closeMethods(b).map((m) => m.text)),
      )
      .toEqual(['ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.']);
  });

  // Only where reasons are on to begin with (on 3.10/4.0 every test above already shows plain deny).
  if (newLine)
    it('AUTH_DENY_REASONS=off: the same refusal is a plain deny on 4.3', async () => {
      const k = await mint(['vcp:connect', 'vcp:write:mode']);
      const quiet = await startTestService(stack.db.url, {
        admin: false,
        env: { RABBITMQ_MANAGEMENT_URL: stack.broker.managementUrl, RABBITMQ_AMQP_URL: stack.broker.amqpUrl, AUTH_DENY_REASONS: 'off' },
      });
      try {
        await quiet.denyReasons.refresh();
        expect(quiet.denyReasons.enabled).toBe(false);
        stack.relay.target(quiet.authUrl); // the broker's auth calls go to this instance now
        const c = await connect(k.key, k.vhost); // a new connection: new auth HTTP connections too
        expect(await publish(c, 'acme.command.site-setpoint')).toMatch(
          /ACCESS_REFUSED - write access to topic 'acme.command.site-setpoint' in exchange 'vcp' in vhost '[^']+' refused for user 'acme'"$/,
        );
      } finally {
        stack.relay.target(stack.service.authUrl);
        await quiet.stop();
      }
    });
});
