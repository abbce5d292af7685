// A list of broker nodes tried in turn (src/broker/nodes.ts): the pure order and bookkeeping,
// then the management client and the AMQP probe against real sockets on loopback: a closed
// port (refused), a server that never answers (timeout), one that answers 503 (the node's
// trouble: next) and one that answers 4xx (the request's: final). The cluster end-to-end suite
// (e2e-cluster.test.ts) runs the same against real RabbitMQ nodes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError, createBrokerAdmin, isNodeFailure } from '../src/broker/management.js';
import { nodeList } from '../src/broker/nodes.js';
import { probeAnyNode } from '../src/broker/probe.js';
import { loadConfig } from '../src/config/index.js';
import { freePort } from '../src/net/free-port.js';

const down = new Error('down');
const final = new Error('final');

describe('nodeList', () => {
  const list = (n: number) =>
    nodeList(
      Array.from({ length: n }, (_, i) => i),
      { endpoint: (i) => `node${i}:15672`, isNodeFailure: (e) => e === down },
    );

  it('moves to the next node while one does not answer, then stays with the one that did', async () => {
    const nodes = list(3);
    const asked: number[] = [];
    const up = new Set([2]);
    const call = async (i: number) => {
      asked.push(i);
      if (!up.has(i)) throw down;
      return i;
    };
    expect(await nodes.run(call)).toBe(2);
    expect(asked).toEqual([0, 1, 2]);
    asked.length = 0;
    up.add(0);
    expect(await nodes.run(call)).toBe(2); // the node that answered last is asked first
    expect(asked).toEqual([2]);
    up.delete(2);
    asked.length = 0;
    expect(await nodes.run(call)).toBe(0); // then the others, wrapping around
    expect(asked).toEqual([2, 0]);
    expect(nodes.states().map((s) => s.reachable)).toEqual([true, false, false]);
    expect(nodes.states()[1]!.error).toBe('down');
  });

  it('a final answer (4xx) is not retried elsewhere; no node answering throws the last failure', async () => {
    const nodes = list(3);
    const asked: number[] = [];
    await expect(
      nodes.run(async (i) => {
        asked.push(i);
        throw i === 1 ? final : down;
      }),
    ).rejects.toBe(final);
    expect(asked).toEqual([0, 1]);
    expect(nodes.states().map((s) => s.reachable)).toEqual([false, true, undefined]);
    await expect(
      nodes.run(async () => {
        throw down;
      }),
    ).rejects.toBe(down);
    expect(nodes.states().map((s) => s.reachable)).toEqual([false, false, false]);
  });

  it("management errors: refused, timeout and 5xx are the node's; 401 and other 4xx are final", () => {
    expect(isNodeFailure(new BrokerError('unreachable', 'x', 'x'))).toBe(true);
    expect(isNodeFailure(new BrokerError('timeout', 'x', 'x'))).toBe(true);
    expect(isNodeFailure(new BrokerError('http', 'x', 'x', 503))).toBe(true);
    expect(isNodeFailure(new BrokerError('http', 'x', 'x', 400))).toBe(false);
    expect(isNodeFailure(new BrokerError('unauthorized', 'x', 'x', 401))).toBe(false);
    expect(isNodeFailure(new BrokerError('deferred', 'x', 'x'))).toBe(false);
    expect(isNodeFailure(new Error('other'))).toBe(false);
  });
});

describe('the management client over several nodes', () => {
  const servers: Server[] = [];
  const hits: Record<string, number> = {};
  async function serve(name: string, answer: (res: import('node:http').ServerResponse) => void): Promise<string> {
    const server = createServer((req, res) => {
      hits[name] = (hits[name] ?? 0) + 1;
      req.resume();
      answer(res);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://voke-admin:s3cret@127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  let refused: string;
  let silent: string;
  let failing: string;
  let refusing: string;
  let healthy: string;

  beforeAll(async () => {
    refused = `http://voke-admin:s3cret@127.0.0.1:${await freePort()}`;
    silent = await serve('silent', () => {}); // never answers
    failing = await serve('failing', (res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"node shutting down"}'));
    refusing = await serve('refusing', (res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad_request","reason":"no"}'));
    healthy = await serve('healthy', (res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('[{"name":"/","running":true},{"name":"partner-1","running":false}]'),
    );
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('reaches the healthy node past a refused, a silent and a 503 node, and counts the failovers', async () => {
    const failovers: string[] = [];
    const admin = createBrokerAdmin({
      managementUrl: [refused, silent, failing, healthy],
      serviceUser: 'voke-service',
      timeoutMs: 1500,
      onFailover: (from) => failovers.push(from),
    });
    expect(await admin.listVhosts()).toEqual(['/', 'partner-1']);
    expect(failovers).toEqual([refused, silent, failing].map((u) => new URL(u).host));
    const states = admin.nodeStates();
    expect(states.map((s) => s.reachable)).toEqual([false, false, false, true]);
    expect(states[0]!.error).toMatch(/unreachable \(ECONNREFUSED/);
    expect(states[1]!.error).toMatch(/did not answer within 1500 ms/);
    expect(states[2]!.error).toMatch(/answered 503/);
    // No state or message carries the password.
    expect(JSON.stringify(states)).not.toContain('s3cret');
    // The next call goes straight to the node that answered.
    const before = hits.failing;
    expect(await admin.listVhosts()).toHaveLength(2);
    expect(hits.failing).toBe(before);
  });

  it('stops at a 4xx answer: another node of the cluster would answer the same', async () => {
    const admin = createBrokerAdmin({ managementUrl: [refused, refusing, healthy], serviceUser: 'voke-service', timeoutMs: 1500 });
    const before = hits.healthy ?? 0;
    await expect(admin.listVhosts()).rejects.toMatchObject({ code: 'http', status: 400 });
    expect(hits.healthy ?? 0).toBe(before);
  });

  it('checkNodes asks every node at once and never throws', async () => {
    const admin = createBrokerAdmin({ managementUrl: [refused, healthy], serviceUser: 'voke-service', timeoutMs: 1500 });
    const status = await admin.checkNodes();
    expect(status.endpoints.map((e) => e.reachable)).toEqual([false, true]);
    // The stand-in answers every path alike: as /api/nodes it lists one member as not running.
    expect(status.membersDown).toEqual(['partner-1']);
  });

  it('no node answering: the last failure, with the operation and no credentials', async () => {
    const admin = createBrokerAdmin({ managementUrl: [refused, failing], serviceUser: 'voke-service', timeoutMs: 1500 });
    const err = await admin.listVhosts().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect((err as BrokerError).message).toMatch(/answered 503 to GET \/api\/vhosts/);
    expect((err as BrokerError).message).not.toContain('s3cret');
  });
});

describe('the probe over several AMQP nodes', () => {
  it('tries each node that does not answer, says how many were tried, and reports each failover', async () => {
    const urls = [`amqp://127.0.0.1:${await freePort()}`, `amqp://127.0.0.1:${await freePort()}`];
    const failovers: string[] = [];
    const r = await probeAnyNode({
      amqpUrls: urls,
      username: 'acme',
      password: 'vk_secret',
      vhost: 'partner-1',
      slug: 'acme',
      timeoutMs: 5000,
      onFailover: (from) => failovers.push(from),
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toBe('unreachable');
    expect(r.error).toMatch(/^no broker node answered \(2 tried\)/);
    expect(r.error).not.toContain('vk_secret');
    expect(failovers).toEqual([urls[0]]);
  });
});

describe('configuration', () => {
  const base = { API_KEY_PEPPER: 'p', SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'), ADMIN_TOKENS: 't', JWT_SECRET: 'j' };

  it('RABBITMQ_MANAGEMENT_URL and RABBITMQ_AMQP_URL take comma-separated lists; the AMQP list is derived from the management hosts', () => {
    const { config } = loadConfig({ ...base, RABBITMQ_MANAGEMENT_URL: 'http://u:p@rabbit-1:15672, http://u:p@rabbit-2:15672,http://u:p@rabbit-3:15672' });
    expect(config.rabbitmqManagementUrls).toHaveLength(3);
    expect(config.rabbitmqManagementUrl).toBe('http://u:p@rabbit-1:15672');
    expect(config.rabbitmqAmqpUrls).toEqual(['amqp://rabbit-1:5672', 'amqp://rabbit-2:5672', 'amqp://rabbit-3:5672']);
    expect(config.rabbitmqAmqpUrl).toBe('amqp://rabbit-1:5672');
    const explicit = loadConfig({ ...base, RABBITMQ_MANAGEMENT_URL: 'http://u:p@a:15672', RABBITMQ_AMQP_URL: 'amqp://a:5672,amqps://b:5671' }).config;
    expect(explicit.rabbitmqAmqpUrls).toEqual(['amqp://a:5672', 'amqps://b:5671']);
  });

  it('a bad entry is named by its position, never quoted (it may carry a password)', () => {
    expect(() => loadConfig({ ...base, RABBITMQ_MANAGEMENT_URL: 'http://u:s3cret@a:15672,not a url' })).toThrow(
      /RABBITMQ_MANAGEMENT_URL: entry 2 of 2 is not a valid URL/,
    );
    expect(() => loadConfig({ ...base, RABBITMQ_MANAGEMENT_URL: 'http://u:s3cret@a:15672', RABBITMQ_AMQP_URL: 'amqp://a,http://b' })).toThrow(
      /RABBITMQ_AMQP_URL: entry 2 of 2 must start with amqp:\/\/ or amqps:\/\//,
    );
    try {
      loadConfig({ ...base, RABBITMQ_MANAGEMENT_URL: 'ftp://u:s3cret@a' });
    } catch (err) {
      expect(String(err)).not.toContain('s3cret');
    }
  });

  it('BROKER_QUEUE_TYPE: classic or quorum, quorum when unset', () => {
    expect(loadConfig(base).config.brokerQueueType).toBe('quorum');
    expect(loadConfig({ ...base, BROKER_QUEUE_TYPE: 'classic' }).config.brokerQueueType).toBe('classic');
    expect(() => loadConfig({ ...base, BROKER_QUEUE_TYPE: 'stream' })).toThrow(/BROKER_QUEUE_TYPE must be "classic" or "quorum"/);
  });
});
