// Minimal RabbitMQ management-API client (global fetch, no dependency): provisions and
// removes per-key vhosts. Credentials come from the URL's userinfo and never appear in
// error messages.
import { scrub } from '../secrets.js';
import {
  ADMIN_PERMISSIONS,
  EVENT_QUEUE_POLICY,
  partnerQueues,
  servicePermissions,
  VCP_EXCHANGE,
  type Permissions,
} from './topology.js';

export type BrokerErrorCode = 'config' | 'unreachable' | 'timeout' | 'unauthorized' | 'http';

/** A management-API failure; `message` is safe to log and to show (no credentials). */
export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  /** What was being done, e.g. `PUT /api/vhosts/partner-42`. */
  readonly operation: string;
  /** HTTP status, when the broker answered. */
  readonly status: number | undefined;

  constructor(code: BrokerErrorCode, operation: string, message: string, status?: number) {
    super(message);
    this.name = 'BrokerError';
    this.code = code;
    this.operation = operation;
    this.status = status;
  }
}

export interface BrokerAdminOptions {
  /** e.g. `http://voke-admin:secret@rabbitmq:15672` (user needs the administrator tag). */
  readonly managementUrl: string;
  /** Internal service user that gets permissions in every provisioned vhost. */
  readonly serviceUser: string;
  /** Per request; default 5000. */
  readonly timeoutMs?: number;
}

export interface DeprovisionResult {
  /** false when the vhost did not exist (already gone). */
  readonly deleted: boolean;
}

export interface BrokerAdmin {
  /** The management user (from the URL). */
  readonly adminUser: string;
  /**
   * Creates the vhost with exchange `vcp`, the six queues and their bindings, the
   * event-queue policy and permissions for the admin and service users. Idempotent. On
   * failure the vhost is deleted again (best effort) and a BrokerError is thrown.
   */
  provisionKeyVhost(input: { vhost: string; slug: string }): Promise<void>;
  /**
   * Deletes the vhost with its queues; the broker force-closes its live connections at once
   * (320 CONNECTION_FORCED). An absent vhost is not an error.
   */
  deprovisionVhost(vhost: string): Promise<DeprovisionResult>;
  /**
   * Force-closes the client connections of a vhost (optionally only those of one user) and
   * returns how many. Best effort: the management API lists a connection only after its
   * first stats emission (collect_statistics_interval, 5 s by default), so a younger
   * connection can be missed. Use deprovisionVhost for revocation.
   */
  closeConnections(filter: { vhost: string; user?: string }, reason?: string): Promise<number>;
  listVhosts(): Promise<string[]>;
  vhostExists(vhost: string): Promise<boolean>;
  /**
   * The client connections of a vhost with their peer address (empty when the vhost is gone).
   * Same caveat as closeConnections: a connection is listed after its first stats emission.
   */
  listConnections(vhost: string): Promise<BrokerConnection[]>;
  /** Force-closes one connection by name; false when it was already gone. */
  closeConnection(name: string, reason?: string): Promise<boolean>;
  /** The broker's version as its management API reports it (`/api/overview` rabbitmq_version). */
  version(): Promise<string>;
  /** Exchange `vcp`, the queues and the bindings from `vcp` of a vhost, as the broker has them (the self-test's check). */
  describeVhost(vhost: string): Promise<VhostTopology>;
}

/** What describeVhost reads: exchange undefined or queues empty when absent (a missing vhost has neither). */
export interface VhostTopology {
  readonly exchange: { readonly type: string; readonly durable: boolean } | undefined;
  readonly queues: readonly { readonly name: string; readonly type: string; readonly durable: boolean }[];
  /** Bindings whose source is `vcp`. */
  readonly bindings: readonly { readonly destination: string; readonly routingKey: string }[];
}

/** A client connection as the management API lists it. */
export interface BrokerConnection {
  readonly name: string;
  readonly user: string;
  /** The client's address as the broker sees it (`127.0.0.2`, `::ffff:10.0.0.1`). */
  readonly peerHost: string;
}

const seg = encodeURIComponent;

export function createBrokerAdmin(options: BrokerAdminOptions): BrokerAdmin {
  const timeoutMs = options.timeoutMs ?? 5000;
  let parsed: URL;
  try {
    parsed = new URL(options.managementUrl);
  } catch {
    throw new BrokerError('config', 'configure', 'RABBITMQ_MANAGEMENT_URL is not a valid URL');
  }
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  if (!user || !password) {
    throw new BrokerError('config', 'configure', 'RABBITMQ_MANAGEMENT_URL must carry user:password');
  }
  parsed.username = '';
  parsed.password = '';
  const base = parsed.toString().replace(/\/+$/, '');
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  /** One request; returns status and parsed JSON (if any). 404 is returned, not thrown, when allowed. */
  async function call(
    method: string,
    path: string,
    opts: { body?: unknown; allow404?: boolean; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; json: unknown }> {
    const operation = `${method} ${path}`;
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: {
          authorization,
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...opts.headers,
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        throw new BrokerError('timeout', operation, `RabbitMQ management API at ${base} did not answer within ${timeoutMs} ms (${operation})`);
      }
      const why = e.cause?.code ?? 'network error';
      throw new BrokerError('unreachable', operation, `RabbitMQ management API at ${base} is unreachable (${why}; ${operation})`);
    }
    const text = await res.text().catch(() => '');
    if (res.ok || (res.status === 404 && opts.allow404)) {
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, json };
    }
    if (res.status === 401) {
      throw new BrokerError('unauthorized', operation, `RabbitMQ management API at ${base} refused the credentials of RABBITMQ_MANAGEMENT_URL (${operation})`, 401);
    }
    let reason = '';
    try {
      const j = JSON.parse(text) as { reason?: unknown; error?: unknown };
      reason = String(j.reason ?? j.error ?? '');
    } catch {
      reason = text;
    }
    reason = scrub(reason, [password]).slice(0, 200);
    throw new BrokerError('http', operation, `RabbitMQ management API answered ${res.status} to ${operation}${reason ? `: ${reason}` : ''}`, res.status);
  }

  const setPermissions = (vhost: string, who: string, p: Permissions) =>
    call('PUT', `/api/permissions/${seg(vhost)}/${seg(who)}`, { body: { ...p } });

  async function provision(vhost: string, slug: string): Promise<void> {
    const v = seg(vhost);
    await call('PUT', `/api/vhosts/${v}`, { body: { description: `voke partner ${slug}`, tags: 'voke-partner' } });
    await setPermissions(vhost, user, ADMIN_PERMISSIONS);
    const p = EVENT_QUEUE_POLICY;
    await call('PUT', `/api/policies/${v}/${seg(p.name)}`, {
      body: { pattern: p.pattern, 'apply-to': p.applyTo, priority: p.priority, definition: p.definition },
    });
    await call('PUT', `/api/exchanges/${v}/${seg(VCP_EXCHANGE)}`, {
      body: { type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} },
    });
    for (const q of partnerQueues(slug)) {
      await call('PUT', `/api/queues/${v}/${seg(q.name)}`, { body: { durable: true, auto_delete: false, arguments: {} } });
      for (const key of q.bindingKeys) {
        await call('POST', `/api/bindings/${v}/e/${seg(VCP_EXCHANGE)}/q/${seg(q.name)}`, { body: { routing_key: key, arguments: {} } });
      }
    }
    await setPermissions(vhost, options.serviceUser, servicePermissions(slug));
  }

  async function listConnections(vhost: string): Promise<BrokerConnection[]> {
    const { status, json } = await call('GET', `/api/vhosts/${seg(vhost)}/connections?columns=name,user,peer_host`, { allow404: true });
    if (status === 404 || !Array.isArray(json)) return [];
    return (json as { name?: unknown; user?: unknown; peer_host?: unknown }[])
      .filter((c) => typeof c.name === 'string')
      .map((c) => ({ name: c.name as string, user: String(c.user ?? ''), peerHost: String(c.peer_host ?? '') }));
  }

  async function closeConnection(name: string, reason = 'closed by voke-auth'): Promise<boolean> {
    const r = await call('DELETE', `/api/connections/${seg(name)}`, { allow404: true, headers: { 'x-reason': reason } });
    return r.status !== 404;
  }

  async function closeConnections(filter: { vhost: string; user?: string }, reason = 'closed by voke-auth'): Promise<number> {
    let closed = 0;
    for (const c of await listConnections(filter.vhost)) {
      if (filter.user !== undefined && c.user !== filter.user) continue;
      if (await closeConnection(c.name, reason)) closed++;
    }
    return closed;
  }

  async function deprovisionVhost(vhost: string): Promise<DeprovisionResult> {
    const { status } = await call('DELETE', `/api/vhosts/${seg(vhost)}`, { allow404: true });
    return { deleted: status !== 404 };
  }

  return {
    adminUser: user,
    async provisionKeyVhost({ vhost, slug }) {
      try {
        await provision(vhost, slug);
      } catch (err) {
        await deprovisionVhost(vhost).catch(() => undefined);
        throw err instanceof BrokerError ? err : new BrokerError('http', 'provision', `provisioning ${vhost} failed`);
      }
    },
    deprovisionVhost,
    closeConnections,
    async listVhosts() {
      const { json } = await call('GET', '/api/vhosts?columns=name');
      return Array.isArray(json) ? json.map((v: { name?: unknown }) => String(v.name)) : [];
    },
    listConnections,
    closeConnection,
    async vhostExists(vhost) {
      const { status } = await call('GET', `/api/vhosts/${seg(vhost)}`, { allow404: true });
      return status !== 404;
    },
    async version() {
      const { json } = await call('GET', '/api/overview');
      const v = (json as { rabbitmq_version?: unknown } | undefined)?.rabbitmq_version;
      if (typeof v !== 'string') throw new BrokerError('http', 'GET /api/overview', 'RabbitMQ management API /api/overview reports no rabbitmq_version');
      return v;
    },
    async describeVhost(vhost) {
      const v = seg(vhost);
      const x = seg(VCP_EXCHANGE);
      const [exchange, queues, bindings] = await Promise.all([
        call('GET', `/api/exchanges/${v}/${x}`, { allow404: true }),
        call('GET', `/api/queues/${v}?columns=name,type,durable`, { allow404: true }),
        call('GET', `/api/exchanges/${v}/${x}/bindings/source`, { allow404: true }),
      ]);
      const e = exchange.json as { type?: unknown; durable?: unknown } | undefined;
      return {
        exchange: exchange.status === 404 || e === undefined ? undefined : { type: String(e.type), durable: e.durable === true },
        queues: Array.isArray(queues.json)
          ? (queues.json as { name?: unknown; type?: unknown; durable?: unknown }[]).map((q) => ({ name: String(q.name), type: String(q.type ?? 'classic'), durable: q.durable === true }))
          : [],
        bindings: Array.isArray(bindings.json)
          ? (bindings.json as { destination?: unknown; destination_type?: unknown; routing_key?: unknown }[])
              .filter((b) => b.destination_type === 'queue')
              .map((b) => ({ destination: String(b.destination), routingKey: String(b.routing_key) }))
          : [],
      };
    },
  };
}
