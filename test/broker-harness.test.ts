// End to end against a real broker node started by test/support/broker.ts. A tiny
// node:http server stands in for voke-auth: it is a fixture for the harness and the
// management client (allows one partner, records what the broker sends), not a model of
// voke-auth's decisions.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { ChannelModel } from 'amqplib';
import amqp from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BrokerAdmin, BrokerError, createBrokerAdmin } from '../src/broker/management.js';
import { probePartnerConnection } from '../src/broker/probe.js';
import { createSelfTest, topologyProblems } from '../src/broker/self-test.js';
import { EVENT_QUEUE_POLICY, partnerQueues, partnerVhost, servicePermissions } from '../src/broker/topology.js';
import { describeBroker, installedVersion, type StartedBroker, startBroker } from './support/broker.js';

const KEY_ID = '7f3c2a10-5b7e-4c1d-9a55-0e2b6f1d8c42';
const SLUG = 'acme-energy';
const VHOST = partnerVhost(KEY_ID);
const TAG = `vcp-key-${KEY_ID}`;
// Characters that must survive URL and form encoding.
const GOOD_KEY = 'voke_Fx9+/= %&secret-key-for-tests';

interface Recorded {
  path: string;
  method: string;
  contentType: string | undefined;
  userAgent: string | undefined;
  keys: string[];
  fields: Record<string, string>;
}

const recorded: Recorded[] = [];

function decide(path: string, f: Record<string, string>): string {
  if (path === '/auth/user') return f.username === SLUG && f.password === GOOD_KEY ? `allow ${TAG}` : 'deny';
  if (path === '/auth/vhost') return f.vhost === VHOST && f.tags === TAG ? 'allow' : 'deny';
  return f.tags === TAG ? 'allow' : 'deny';
}

const fixture = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const params = new URLSearchParams(body);
    const fields = Object.fromEntries(params);
    recorded.push({
      path,
      method: req.method ?? '',
      contentType: req.headers['content-type'],
      userAgent: req.headers['user-agent'],
      keys: [...params.keys()],
      fields,
    });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(decide(path, fields));
  });
});

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const callsTo = (path: string) => recorded.filter((r) => r.path === path);

function mgmt(b: StartedBroker) {
  const base = new URL(b.managementUrl);
  const auth = `Basic ${Buffer.from(`${b.adminUser}:${b.adminPassword}`).toString('base64')}`;
  return async (path: string): Promise<any> => {
    const res = await fetch(`${base.protocol}//${base.host}${path}`, { headers: { authorization: auth } });
    expect(res.status, path).toBe(200);
    return res.json();
  };
}

async function connectPartner(b: StartedBroker, password = GOOD_KEY): Promise<ChannelModel> {
  const u = new URL(b.amqpUrl);
  const c = await amqp.connect({ protocol: 'amqp', hostname: u.hostname, port: Number(u.port), username: SLUG, password, vhost: VHOST }, { noDelay: true });
  c.on('error', () => undefined);
  return c;
}

await describeBroker('broker harness + management client + probe (real RabbitMQ)', (version) => {
  let broker: StartedBroker;
  let admin: BrokerAdmin;
  let get: (path: string) => Promise<any>;

  beforeAll(async () => {
    recorded.length = 0; // one broker version's calls at a time
    await new Promise<void>((r) => fixture.listen(0, '127.0.0.1', () => r()));
    const { port } = fixture.address() as AddressInfo;
    broker = await startBroker({ authBaseUrl: `http://127.0.0.1:${port}`, tls: true, version });
    admin = createBrokerAdmin({ managementUrl: broker.managementUrl, serviceUser: broker.serviceUser, timeoutMs: 5000 });
    get = mgmt(broker);
  }, 90_000);

  afterAll(async () => {
    await broker?.stop();
    await new Promise((r) => fixture.close(r));
  }, 30_000);

  it('boots from the repo config: definitions loaded, no guest user, plugins on', async () => {
    const users = (await get('/api/users')).map((u: { name: string }) => u.name).sort();
    expect(users).toEqual([broker.adminUser, broker.serviceUser].sort());
    expect(await admin.listVhosts()).toEqual(['/']);
    const exchanges = await get('/api/exchanges/%2F/vcp');
    expect(exchanges).toMatchObject({ type: 'topic', durable: true });
    const policies = await get('/api/policies/%2F');
    expect(policies).toHaveLength(1);
    expect(policies[0]).toMatchObject({ name: EVENT_QUEUE_POLICY.name, pattern: EVENT_QUEUE_POLICY.pattern, definition: EVENT_QUEUE_POLICY.definition });
  });

  it('provisions a key vhost with exchange, six queues, bindings, policy and permissions', { timeout: 30_000 }, async () => {
    await admin.provisionKeyVhost({ vhost: VHOST, slug: SLUG });
    await admin.provisionKeyVhost({ vhost: VHOST, slug: SLUG }); // idempotent
    expect(await admin.vhostExists(VHOST)).toBe(true);
    expect(await admin.listVhosts()).toContain(VHOST);

    const v = encodeURIComponent(VHOST);
    expect(await get(`/api/exchanges/${v}/vcp`)).toMatchObject({ type: 'topic', durable: true, auto_delete: false });
    const queues = await get(`/api/queues/${v}`);
    const expected = partnerQueues(SLUG);
    expect(queues.map((q: { name: string }) => q.name).sort()).toEqual(expected.map((q) => q.name).sort());
    for (const q of queues) expect(q.durable).toBe(true);
    expect(await get(`/api/policies/${v}`)).toEqual([
      expect.objectContaining({
        name: EVENT_QUEUE_POLICY.name,
        pattern: EVENT_QUEUE_POLICY.pattern,
        'apply-to': 'queues',
        definition: EVENT_QUEUE_POLICY.definition,
      }),
    ]);
    // The applied policy shows in queue stats, emitted every 5 s (collect_statistics_interval);
    // on 4.0 a queue's state can be listed a tick before its policy. Wait until every queue has
    // reported and the event queues show the policy, then check that only they do.
    const applied = await eventually(async () => {
      const qs: { name: string; policy?: string; state?: string }[] = await get(`/api/queues/${v}?columns=name,policy,state`);
      const reported = qs.every((q) => q.state !== undefined && (!q.name.includes('.event.') || q.policy !== undefined));
      return reported ? qs : undefined;
    }, 30_000);
    for (const q of applied) expect(q.policy ?? null).toBe(q.name.includes('.event.') ? EVENT_QUEUE_POLICY.name : null);
    const bindings = (await get(`/api/exchanges/${v}/vcp/bindings/source`))
      .map((b: { destination: string; routing_key: string }) => `${b.destination} <- ${b.routing_key}`)
      .sort();
    expect(bindings).toEqual(expected.flatMap((q) => q.bindingKeys.map((k) => `${q.name} <- ${k}`)).sort());
    expect(bindings).toContain(`vcp.${SLUG}.event.status <- ${SLUG}.event.command.ack`);

    const perms = await get(`/api/vhosts/${v}/permissions`);
    const byUser = Object.fromEntries(perms.map((p: { user: string }) => [p.user, p]));
    expect(Object.keys(byUser).sort()).toEqual([broker.adminUser, broker.serviceUser].sort());
    expect(byUser[broker.serviceUser]).toMatchObject(servicePermissions(SLUG));
    expect(byUser[broker.adminUser]).toMatchObject({ configure: '.*', write: '.*', read: '.*' });
  });

  it('version() reads the broker version; describeVhost and the self-test see what provisioning made, and name what is missing', {
    timeout: 30_000,
  }, async () => {
    const reported = await admin.version();
    expect(reported.startsWith(`${version}.`), reported).toBe(true);
    if (broker.mode === 'local') expect(reported).toBe(installedVersion(version));
    expect(topologyProblems(VHOST, SLUG, await admin.describeVhost(VHOST))).toEqual([]);
    const selfTest = createSelfTest(admin);
    const args = { amqpUrl: broker.amqpUrl, username: SLUG, password: GOOD_KEY, vhost: VHOST, slug: SLUG, canPublish: true, timeoutMs: 5000 };
    expect(await selfTest(args)).toMatchObject({ ok: true });

    // Break the topology through the management API, as an operator might.
    const base = new URL(broker.managementUrl);
    const auth = { authorization: `Basic ${Buffer.from(`${broker.adminUser}:${broker.adminPassword}`).toString('base64')}` };
    const v = encodeURIComponent(VHOST);
    const del = async (path: string) =>
      expect((await fetch(`${base.protocol}//${base.host}${path}`, { method: 'DELETE', headers: auth })).status, path).toBe(204);
    await del(`/api/queues/${v}/${encodeURIComponent(`vcp.${SLUG}.schedule`)}`);
    await del(`/api/bindings/${v}/e/vcp/q/${encodeURIComponent(`vcp.${SLUG}.command`)}/${encodeURIComponent(`${SLUG}.command.#`)}`);
    const problems = topologyProblems(VHOST, SLUG, await admin.describeVhost(VHOST));
    expect(problems).toEqual([`binding vcp -> vcp.${SLUG}.command (${SLUG}.command.#) is missing`, `queue vcp.${SLUG}.schedule is missing`]);
    const failed = await selfTest(args);
    expect(failed).toMatchObject({ ok: false, failure: 'topology' });
    if (!failed.ok) expect(failed.error).toBe(`topology check (management API), vhost ${VHOST}: ${problems.join('; ')}`);
    expect(topologyProblems('partner-nope', SLUG, await admin.describeVhost('partner-nope'))).toEqual([
      'vhost partner-nope is missing or empty (no exchange vcp, no queues): not provisioned?',
    ]);
    await admin.provisionKeyVhost({ vhost: VHOST, slug: SLUG }); // repairs (idempotent)
    expect(topologyProblems(VHOST, SLUG, await admin.describeVhost(VHOST))).toEqual([]);
  });

  it('the service user can publish to vcp and consume partner-to-broker queues, nothing else', async () => {
    const u = new URL(broker.amqpUrl);
    const c = await amqp.connect(
      { protocol: 'amqp', hostname: u.hostname, port: Number(u.port), username: broker.serviceUser, password: broker.servicePassword, vhost: VHOST },
      { noDelay: true },
    );
    c.on('error', () => undefined);
    try {
      const ch = await c.createConfirmChannel();
      ch.on('error', () => undefined);
      ch.publish('vcp', `${SLUG}.event.telemetry.realtime.site-1`, Buffer.from('{}'));
      await ch.waitForConfirms();
      const got = await ch.get(`vcp.${SLUG}.command`);
      expect(got).toBe(false); // allowed (empty queue)
      await expect(ch.get(`vcp.${SLUG}.event.telemetry`)).rejects.toThrow(/ACCESS_REFUSED/);
    } finally {
      await c.close().catch(() => undefined);
    }
    // The internal backend answered for the service user: nothing reached the fixture.
    expect(recorded.filter((r) => r.fields.username === broker.serviceUser)).toEqual([]);
  });

  it('probe succeeds with credentials the fixture allows', async () => {
    const r = await probePartnerConnection({ amqpUrl: broker.amqpUrl, username: SLUG, password: GOOD_KEY, vhost: VHOST, slug: SLUG, timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: true });
  });

  it('probe failures are actionable and never contain the password', async () => {
    const bad = 'voke_WRONGwrongWRONG+/ secret';
    const base = { amqpUrl: broker.amqpUrl, username: SLUG, vhost: VHOST, slug: SLUG, timeoutMs: 5000 };
    const cases = [
      { opts: { ...base, password: bad }, failure: 'auth_refused', text: /login refused/ },
      { opts: { ...base, password: GOOD_KEY, vhost: partnerVhost('nope') }, failure: 'vhost_refused', text: /vhost partner-nope refused/ },
      { opts: { ...base, password: GOOD_KEY, slug: 'other-org' }, failure: 'queue_missing', text: /vcp\.other-org\.event\.telemetry/ },
      { opts: { ...base, password: bad, amqpUrl: 'amqp://127.0.0.1:1' }, failure: 'unreachable', text: /unreachable at amqp:\/\/127\.0\.0\.1:1/ },
    ] as const;
    for (const c of cases) {
      const r = await probePartnerConnection(c.opts);
      expect(r.ok, c.failure).toBe(false);
      if (r.ok) continue;
      expect(r.failure).toBe(c.failure);
      expect(r.error).toMatch(c.text);
      for (const secret of [bad, GOOD_KEY, encodeURIComponent(bad), encodeURIComponent(GOOD_KEY)]) expect(r.error).not.toContain(secret);
      expect(r.error).not.toMatch(/amqps?:\/\/[^/\s]*@/);
    }
  });

  it('probe times out cleanly against a port that accepts but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      s.resume(); // read (and ignore) the AMQP header, so the client's close is seen
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = silent.address() as AddressInfo;
      const r = await probePartnerConnection({
        amqpUrl: `amqp://127.0.0.1:${port}`,
        username: SLUG,
        password: GOOD_KEY,
        vhost: VHOST,
        slug: SLUG,
        timeoutMs: 500,
      });
      expect(r).toMatchObject({ ok: false, failure: 'timeout' });
      // the probe closed its socket: wait for the close to arrive, then check none is left
      await expect.poll(() => sockets.size, { timeout: 10_000 }).toBe(0);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('records the exact form fields the broker POSTs for user, vhost, resource and topic', async () => {
    const c = await connectPartner(broker);
    try {
      const ch = await c.createConfirmChannel();
      ch.on('error', () => undefined);
      // exchange write + topic write
      ch.publish('vcp', `${SLUG}.command.mode`, Buffer.from('{}'));
      await ch.waitForConfirms();
      // queue.bind asks: queue write, exchange read, topic read
      await ch.bindQueue(`vcp.${SLUG}.event.telemetry`, 'vcp', `${SLUG}.event.telemetry.extra`);
      // consume asks: queue read
      await ch.consume(`vcp.${SLUG}.event.alarm`, () => undefined);
    } finally {
      await c.close().catch(() => undefined);
    }

    for (const r of recorded) {
      expect(r.method).toBe('POST');
      expect(r.contentType).toBe('application/x-www-form-urlencoded');
      expect(r.userAgent).toBeUndefined();
    }
    const user = callsTo('/auth/user').find((r) => r.fields.password === GOOD_KEY)!;
    expect(user.keys).toEqual(['username', 'password']);
    expect(user.fields).toEqual({ username: SLUG, password: GOOD_KEY });

    const vhost = callsTo('/auth/vhost').at(-1)!;
    expect(vhost.keys).toEqual(['username', 'vhost', 'ip', 'tags']);
    expect(vhost.fields).toEqual({ username: SLUG, vhost: VHOST, ip: '127.0.0.1', tags: TAG });

    const resources = callsTo('/auth/resource');
    for (const r of resources) expect(r.keys).toEqual(['username', 'vhost', 'resource', 'name', 'permission', 'tags']);
    const res = resources.map((r) => `${r.fields.resource}:${r.fields.name}:${r.fields.permission}`);
    expect(res).toEqual(
      expect.arrayContaining(['exchange:vcp:write', `queue:vcp.${SLUG}.event.telemetry:write`, 'exchange:vcp:read', `queue:vcp.${SLUG}.event.alarm:read`]),
    );
    expect(resources[0]!.fields).toMatchObject({ username: SLUG, vhost: VHOST, tags: TAG });

    const topics = callsTo('/auth/topic');
    for (const t of topics) {
      expect(t.keys.slice(0, 6)).toEqual(['username', 'vhost', 'resource', 'name', 'permission', 'tags']);
      // Then the topic context, in an Erlang map's iteration order, which OTP does not define:
      // routing_key came before the variable_map fields on some boots of 4.3.6 and after them on
      // another (CI, 2026-12-02). Nothing here reads fields by position.
      expect([...t.keys.slice(6)].sort()).toEqual(['routing_key', 'variable_map.username', 'variable_map.vhost']);
    }
    expect(topics.map((t) => t.fields)).toEqual(
      expect.arrayContaining([
        {
          username: SLUG,
          vhost: VHOST,
          resource: 'topic',
          name: 'vcp',
          permission: 'write',
          tags: TAG,
          routing_key: `${SLUG}.command.mode`,
          'variable_map.username': SLUG,
          'variable_map.vhost': VHOST,
        },
        {
          username: SLUG,
          vhost: VHOST,
          resource: 'topic',
          name: 'vcp',
          permission: 'read',
          tags: TAG,
          routing_key: `${SLUG}.event.telemetry.extra`,
          'variable_map.username': SLUG,
          'variable_map.vhost': VHOST,
        },
      ]),
    );
  });

  it('closeConnections closes a partner connection once the management API lists it', async () => {
    const c = await connectPartner(broker);
    const closed = new Promise<string>((r) => c.once('close', (e?: Error) => r(String(e?.message))));
    // Listed after the connection's first stats emission (up to ~5 s).
    const n = await eventually(async () => (await admin.closeConnections({ vhost: VHOST, user: SLUG }, 'test close')) || undefined, 15_000);
    expect(n).toBe(1);
    expect(await closed).toMatch(/CONNECTION.FORCED.*test close/);
    expect(await admin.closeConnections({ vhost: VHOST, user: 'someone-else' })).toBe(0);
  }, 30_000);

  it('TLS: amqps with the generated CA works; without trusting it the probe reports a TLS failure', async () => {
    expect(broker.amqpsUrl).toMatch(/^amqps:\/\/localhost:\d+$/);
    const ca = readFileSync(broker.caCertPath!);
    const u = new URL(broker.amqpsUrl!);
    const c = await amqp.connect(
      { protocol: 'amqps', hostname: u.hostname, port: Number(u.port), username: SLUG, password: GOOD_KEY, vhost: VHOST },
      { noDelay: true, ca: [ca] },
    );
    c.on('error', () => undefined);
    const ch = await c.createChannel();
    await ch.checkQueue(`vcp.${SLUG}.command`);
    await c.close();

    const base = { amqpUrl: broker.amqpsUrl!, username: SLUG, password: GOOD_KEY, vhost: VHOST, slug: SLUG, timeoutMs: 5000 };
    expect(await probePartnerConnection({ ...base, tlsCa: ca })).toMatchObject({ ok: true });
    const viaIp = await probePartnerConnection({ ...base, amqpUrl: `amqps://127.0.0.1:${u.port}`, tlsCa: ca });
    expect(viaIp).toMatchObject({ ok: true });
    const untrusted = await probePartnerConnection(base);
    expect(untrusted).toMatchObject({ ok: false, failure: 'tls' });
  });

  it('deprovisionVhost removes the vhost and closes a live connection in it', async () => {
    const c = await connectPartner(broker);
    const ch = await c.createChannel();
    ch.on('error', () => undefined);
    const closed = new Promise<string>((r) => c.once('close', (e?: Error) => r(String(e?.message))));
    expect(await admin.deprovisionVhost(VHOST)).toEqual({ deleted: true });
    expect(await closed).toMatch(/CONNECTION.FORCED/); // the test's timeout bounds the wait
    expect(await admin.vhostExists(VHOST)).toBe(false);
    expect(await admin.listVhosts()).toEqual(['/']);
    expect(await admin.deprovisionVhost(VHOST)).toEqual({ deleted: false }); // already gone
    expect(await admin.closeConnections({ vhost: VHOST })).toBe(0);
  });

  it('management errors are typed and never carry the credentials', async () => {
    const u = new URL(broker.managementUrl);
    const wrong = createBrokerAdmin({ managementUrl: `http://${broker.adminUser}:not-the-password-42@${u.host}`, serviceUser: broker.serviceUser });
    const e1 = await wrong.listVhosts().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(BrokerError);
    expect(e1).toMatchObject({ code: 'unauthorized', status: 401 });
    expect(String((e1 as Error).message)).not.toContain('not-the-password-42');

    const down = createBrokerAdmin({
      managementUrl: `http://${broker.adminUser}:${broker.adminPassword}@127.0.0.1:1`,
      serviceUser: broker.serviceUser,
      timeoutMs: 1000,
    });
    const e2 = await down.provisionKeyVhost({ vhost: partnerVhost('x'), slug: SLUG }).catch((e: unknown) => e);
    expect(e2).toMatchObject({ code: 'unreachable' });
    expect(String((e2 as Error).message)).not.toContain(broker.adminPassword);
    expect(String((e2 as Error).message)).toContain('http://127.0.0.1:1');

    // A failed provisioning leaves nothing behind: invalid slug characters make the
    // binding fail after the vhost exists.
    const e3 = await admin.provisionKeyVhost({ vhost: partnerVhost('broken'), slug: 'x'.repeat(300) }).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(BrokerError);
    expect(await admin.vhostExists(partnerVhost('broken'))).toBe(false);
  });
});
