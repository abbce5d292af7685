// Self-test, the partner's side: connect over AMQP as the partner and passively declare what the
// partner may use: its three event queues (read) and, for a key that may publish, exchange vcp
// (write). Nothing else: from RabbitMQ 4.2.6 a passive declare needs some permission on the
// resource, and a partner has none on its command/schedule/config queues (by design); those are
// checked through the management API (broker/self-test.ts). Error texts are meant for the person
// who minted the key: actionable (which stage, which queue), and never holding the password or a
// URL with credentials.
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import type { Channel, ChannelModel, SocketOptions } from 'amqplib';
import amqp from 'amqplib';
import { normaliseAddress } from '../policy/cidr.js';
import { scrub } from '../secrets.js';
import { partnerQueues, VCP_EXCHANGE } from './topology.js';

export interface ProbeOptions {
  /** Base URL without credentials or vhost, e.g. `amqp://127.0.0.1:5672` or `amqps://host:5671`. */
  readonly amqpUrl: string;
  readonly username: string;
  readonly password: string;
  readonly vhost: string;
  readonly slug: string;
  /** The key has a vcp:write:* scope: also passive-declare exchange vcp (without one the partner may not). */
  readonly canPublish?: boolean;
  /** Whole probe, connect included; default 10000. */
  readonly timeoutMs?: number;
  /** PEM CA bundle to trust for amqps (default: the system's). */
  readonly tlsCa?: string | Buffer;
  /** TCP (and TLS) connect only; default: the whole probe's timeout. */
  readonly connectTimeoutMs?: number;
}

export type ProbeFailure =
  | 'auth_refused'
  | 'vhost_refused'
  | 'queue_missing'
  | 'declare_refused'
  | 'topology'
  | 'unreachable'
  | 'tls'
  | 'closed'
  | 'timeout'
  | 'error';

export type ProbeResult = { ok: true; durationMs: number } | { ok: false; durationMs: number; error: string; failure: ProbeFailure };

class ProbeError extends Error {
  constructor(
    readonly failure: ProbeFailure,
    message: string,
  ) {
    super(message);
  }
}

export async function probePartnerConnection(opts: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const elapsed = () => Math.round(performance.now() - started);

  let target: { protocol: 'amqp' | 'amqps'; hostname: string; port: number };
  try {
    target = parseBase(opts.amqpUrl);
  } catch (err) {
    return { ok: false, durationMs: elapsed(), failure: 'error', error: (err as Error).message };
  }
  const where = `${target.protocol}://${target.hostname}:${target.port}`;

  let conn: ChannelModel | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const abort = new AbortController();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
      reject(new ProbeError('timeout', `no answer from ${where} within ${timeoutMs} ms (broker or auth backend too slow)`));
    }, timeoutMs);
  });

  // On timeout, aborting destroys the socket whatever stage amqplib is in: net/tls honour
  // `signal`, and amqplib passes socket options through.
  const socketOptions: SocketOptions & { signal: AbortSignal } = {
    noDelay: true,
    signal: abort.signal,
    ...(opts.connectTimeoutMs !== undefined ? { timeout: opts.connectTimeoutMs } : {}),
    ...(target.protocol === 'amqps' && opts.tlsCa !== undefined ? { ca: [opts.tlsCa] } : {}),
  };
  const run = async (): Promise<void> => {
    const c = await amqp.connect(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        username: opts.username,
        password: opts.password,
        // amqplib unescapes the vhost of the object form too.
        vhost: encodeURIComponent(opts.vhost),
        heartbeat: 0,
      },
      socketOptions,
    );
    c.on('error', () => undefined); // reported through the failing operation instead
    if (timedOut) return;
    conn = c;
    const missing: string[] = [];
    let ch: Channel | undefined;
    const checks: { kind: 'queue' | 'exchange'; name: string }[] = partnerQueues(opts.slug)
      .filter((q) => q.direction === 'broker-to-partner')
      .map((q) => ({ kind: 'queue' as const, name: q.name }));
    if (opts.canPublish) checks.push({ kind: 'exchange', name: VCP_EXCHANGE });
    for (const check of checks) {
      ch ??= await openChannel(c);
      try {
        if (check.kind === 'queue') await ch.checkQueue(check.name);
        else await ch.checkExchange(check.name);
      } catch (err) {
        const msg = String((err as Error).message);
        if (/ACCESS.REFUSED/.test(msg)) {
          const broker = /with message "([^"]*)"/.exec(msg)?.[1] ?? msg;
          const needs = check.kind === 'queue' ? 'read on vcp.<slug>.event.* queues' : 'write on exchange vcp for a key with a vcp:write:* scope';
          throw new ProbeError(
            'declare_refused',
            `passive declare of ${check.kind} ${check.name} in vhost ${opts.vhost} refused for ${opts.username} (the auth backend must allow ${needs}; broker: ${broker.slice(0, 300)})`,
          );
        }
        if (!/NOT_FOUND|NOT-FOUND/.test(msg)) throw err;
        missing.push(`${check.kind === 'exchange' ? 'exchange ' : ''}${check.name}`);
        ch = undefined; // the broker closed that channel
      }
    }
    if (missing.length > 0) {
      throw new ProbeError('queue_missing', `missing in vhost ${opts.vhost}: ${missing.join(', ')} (vhost not provisioned for slug ${opts.slug}?)`);
    }
  };

  try {
    await Promise.race([run(), timeout]);
    clearTimeout(timer);
    await closeQuietly(conn);
    return { ok: true, durationMs: elapsed() };
  } catch (err) {
    clearTimeout(timer);
    if (!timedOut) await closeQuietly(conn);
    const pe = err instanceof ProbeError ? err : classify(err, where, opts);
    return { ok: false, durationMs: elapsed(), failure: pe.failure, error: scrub(pe.message, [opts.password]) };
  }
}

/** Failures that say the node did not answer (the next node is tried), not that it refused the key. */
const NODE_FAILURES: ReadonlySet<ProbeFailure> = new Set(['unreachable', 'timeout', 'closed']);
/** A node that does not accept the TCP connection within this is passed over. */
export const NODE_CONNECT_TIMEOUT_MS = 3000;

/**
 * The probe against the nodes of one cluster (RABBITMQ_AMQP_URL as a list), in turn: the next
 * node is tried only when one does not answer (refused, connect timeout, closed during the
 * handshake), while time is left of `timeoutMs`. A refusal of the key is final.
 */
export async function probeAnyNode(
  opts: Omit<ProbeOptions, 'amqpUrl'> & { amqpUrls: readonly string[]; onFailover?: (from: string, error: string) => void },
): Promise<ProbeResult> {
  const started = performance.now();
  const deadline = started + (opts.timeoutMs ?? 10_000);
  let last: ProbeResult = { ok: false, durationMs: 0, failure: 'error', error: 'RABBITMQ_AMQP_URL lists no node' };
  for (const [i, amqpUrl] of opts.amqpUrls.entries()) {
    const remaining = Math.floor(deadline - performance.now());
    if (i > 0 && remaining < 500) break;
    last = await probePartnerConnection({ ...opts, amqpUrl, timeoutMs: remaining, connectTimeoutMs: opts.connectTimeoutMs ?? NODE_CONNECT_TIMEOUT_MS });
    if (last.ok || !NODE_FAILURES.has(last.failure)) break;
    if (i < opts.amqpUrls.length - 1) opts.onFailover?.(amqpUrl, last.error);
  }
  const durationMs = Math.round(performance.now() - started);
  if (last.ok || opts.amqpUrls.length < 2 || !NODE_FAILURES.has(last.failure)) return { ...last, durationMs };
  return { ...last, durationMs, error: `no broker node answered (${opts.amqpUrls.length} tried); last: ${last.error}` };
}

function parseBase(amqpUrl: string): { protocol: 'amqp' | 'amqps'; hostname: string; port: number } {
  let u: URL;
  try {
    u = new URL(amqpUrl);
  } catch {
    throw new ProbeError('error', 'RABBITMQ_AMQP_URL is not a valid URL');
  }
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') {
    throw new ProbeError('error', `RABBITMQ_AMQP_URL must start with amqp:// or amqps:// (got ${u.protocol})`);
  }
  const protocol = u.protocol === 'amqp:' ? 'amqp' : 'amqps';
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : protocol === 'amqp' ? 5672 : 5671;
  return { protocol, hostname, port };
}

async function openChannel(c: ChannelModel): Promise<Channel> {
  const ch = await c.createChannel();
  ch.on('error', () => undefined);
  return ch;
}

function classify(err: unknown, where: string, opts: ProbeOptions): ProbeError {
  const e = err as { code?: string; message?: string };
  const msg = String(e.message ?? err);
  const code = e.code ?? '';
  if (/ACCESS.REFUSED/.test(msg)) {
    return new ProbeError(
      'auth_refused',
      `login refused for username ${opts.username}: the API key is unknown, revoked, expired or lacks vcp:connect, the username is not the org slug, or the broker cannot reach its auth backend`,
    );
  }
  // RabbitMQ answers connection.open with connection.close when the vhost does not exist or
  // the auth backend denies it; amqplib reports that as "Expected ConnectionOpenOk; got <ConnectionClose…>".
  if (/NOT.ALLOWED/.test(msg) || /ConnectionOpenOk; got <ConnectionClose/.test(msg)) {
    return new ProbeError(
      'vhost_refused',
      `access to vhost ${opts.vhost} refused for ${opts.username} (vhost missing, not this key's, or client IP not in allowedIps)`,
    );
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'].includes(code) || /ETIMEDOUT/.test(msg)) {
    return new ProbeError('unreachable', `broker unreachable at ${where} (${code || 'connect timeout'})`);
  }
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/i.test(code) || /certificate|tls|ssl/i.test(msg)) {
    return new ProbeError('tls', `TLS handshake with ${where} failed (${code || 'TLS error'})`);
  }
  if (/closed|ECONNRESET|EPIPE/i.test(msg) || code === 'ECONNRESET') {
    return new ProbeError('closed', `${where} closed the connection during the handshake (auth backend failing, wrong port or protocol?)`);
  }
  return new ProbeError('error', `AMQP probe against ${where} failed: ${msg.slice(0, 200)}`);
}

function destroy(c: ChannelModel | undefined): void {
  const stream = (c?.connection as unknown as { stream?: { destroy(): void } } | undefined)?.stream;
  stream?.destroy();
}

async function closeQuietly(c: ChannelModel | undefined): Promise<void> {
  if (!c) return;
  const t = setTimeout(() => destroy(c), 2000);
  try {
    await c.close();
  } catch {
    destroy(c);
  } finally {
    clearTimeout(t);
  }
}

const SOURCE_LOOKUP_TIMEOUT_MS = 2000;

/**
 * The addresses the broker can see a probe from: every address of this host's interfaces
 * (os.networkInterfaces(), loopback included) plus the source address the kernel picks towards
 * the broker's AMQP endpoint (learned with a connected UDP socket: nothing is sent). Plain
 * addresses, normalised (policy/cidr.ts normaliseAddress), never ranges. A NAT between the
 * service and the broker hides them all: then the probe of a key with an allowlist is refused.
 */
export async function probeSourceAddresses(amqpUrl: string | undefined): Promise<string[]> {
  const found = new Set<string>();
  const add = (a: string | undefined) => {
    const n = a === undefined ? undefined : normaliseAddress(a);
    if (n !== undefined) found.add(n);
  };
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) add(i.address);
  if (amqpUrl !== undefined) {
    // Best effort and bounded: a slow resolver must not hold the probe up.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, SOURCE_LOOKUP_TIMEOUT_MS, undefined)));
    add(await Promise.race([sourceAddressTowards(amqpUrl).catch(() => undefined), giveUp]));
    clearTimeout(timer);
  }
  return [...found];
}

async function sourceAddressTowards(amqpUrl: string): Promise<string | undefined> {
  const { hostname, port } = parseBase(amqpUrl);
  const target = await lookup(hostname);
  const socket = createSocket(target.family === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, target.address, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}
