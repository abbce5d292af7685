// Minimal RabbitMQ management-API client (global fetch, no dependency): provisions and
// removes per-key vhosts. Credentials come from the URL's userinfo and never appear in
// error messages. Given several URLs (the nodes of one cluster), every call goes to the next
// node when one does not answer (src/broker/nodes.ts).
import { scrub } from '../secrets.js';
import { type NodeState, nodeList } from './nodes.js';
import { ADMIN_PERMISSIONS, eventQueuePolicy, type Permissions, partnerQueues, type QueueType, servicePermissions, VCP_EXCHANGE } from './topology.js';

/** `deferred`: not attempted now, on purpose (a vhost deletion while a cluster member is down). */
export type BrokerErrorCode = 'config' | 'unreachable' | 'timeout' | 'unauthorized' | 'http' | 'deferred';

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
  /**
   * e.g. `http://voke-admin:secret@rabbitmq:15672` (user needs the administrator tag), or the
   * management URLs of several nodes of one cluster, tried in turn.
   */
  readonly managementUrl: string | readonly string[];
  /** Internal service user that gets permissions in every provisioned vhost. */
  readonly serviceUser: string;
  /** Per request and node; default 5000. */
  readonly timeoutMs?: number;
  /** The type of the partner queues provisioned (BROKER_QUEUE_TYPE); default classic. */
  readonly queueType?: QueueType;
  /** A call moved on from a node that did not answer. */
  readonly onFailover?: (from: string, err: unknown) => void;
}

/** What a health check of every configured management endpoint found. */
export interface BrokerNodesStatus {
  /** One per configured URL, in list order. */
  readonly endpoints: NodeState[];
  /** Cluster members a reachable node reports as not running (empty when none answered). */
  readonly membersDown: string[];
  readonly checkedAt: Date;
}

export interface DeprovisionResult {
  /** false when the vhost did not exist (already gone). */
  readonly deleted: boolean;
}

export interface BrokerAdmin {
  /** The management user (from the first URL). */
  readonly adminUser: string;
  /** The type of the partner queues this client provisions. */
  readonly queueType: QueueType;
  /**
   * Creates the vhost with exchange `vcp`, the six queues and their bindings, the
   * event-queue policy and permissions for the admin and service users. Idempotent. On
   * failure the vhost is deleted again (best effort) and a BrokerError is thrown.
   */
  provisionKeyVhost(input: { vhost: string; slug: string }): Promise<void>;
  /**
   * Closes the vhost's listed connections, then deletes the vhost with its queues (the broker
   * force-closes any connection left, 320 CONNECTION_FORCED). An absent vhost is not an error.
   */
  deprovisionVhost(vhost: string, reason?: string): Promise<DeprovisionResult>;
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
  /** Asks every configured node at once; never throws. */
  checkNodes(): Promise<BrokerNodesStatus>;
  /** What the last call to each configured node found. */
  nodeStates(): NodeState[];
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
  /** Epoch ms the broker accepted the TCP connection (its clock); undefined if not reported. */
  readonly connectedAt?: number;
}

const seg = encodeURIComponent;

interface ManagementNode {
  /** Without credentials. */
  readonly base: string;
  readonly endpoint: string;
  readonly user: string;
  readonly password: string;
  readonly authorization: string;
}

function parseNode(url: string, position: string): ManagementNode {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BrokerError('config', 'configure', `RABBITMQ_MANAGEMENT_URL${position} is not a valid URL`);
  }
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  if (!user || !password) {
    throw new BrokerError('config', 'configure', `RABBITMQ_MANAGEMENT_URL${position} must carry user:password`);
  }
  parsed.username = '';
  parsed.password = '';
  return {
    base: parsed.toString().replace(/\/+$/, ''),
    endpoint: parsed.host,
    user,
    password,
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  };
}

interface CallOptions {
  body?: unknown;
  allow404?: boolean;
  headers?: Record<string, string>;
  /** Overrides the per-request timeout. */
  timeoutMs?: number;
}

/**
 * A vhost deletion waits for every queue's members: about 5 s per quorum queue while a cluster
 * member is down (35 s for a partner vhost, measured on 3.10 and 4.0), which is why it is
 * deferred then (deprovisionVhost). A timeout well above a healthy cluster's deletion.
 */
const VHOST_DELETE_TIMEOUT_MS = 60_000;

/** The cluster's members, each with whether it runs (any node answers for all of them). */
const NODES_PATH = '/api/nodes?columns=name,running';

function clusterMembers(json: unknown): { name: string; running: boolean }[] {
  if (!Array.isArray(json)) return [];
  return (json as { name?: unknown; running?: unknown }[]).map((m) => ({ name: String(m.name), running: m.running === true }));
}

/** The node did not answer: refused, timed out, or a 5xx (the next node is asked). */
export function isNodeFailure(err: unknown): boolean {
  if (!(err instanceof BrokerError)) return false;
  return err.code === 'unreachable' || err.code === 'timeout' || (err.code === 'http' && (err.status ?? 0) >= 500);
}

export function createBrokerAdmin(options: BrokerAdminOptions): BrokerAdmin {
  const requestTimeoutMs = options.timeoutMs ?? 5000;
  const queueType = options.queueType ?? 'classic';
  const urls = typeof options.managementUrl === 'string' ? [options.managementUrl] : options.managementUrl;
  if (urls.length === 0) throw new BrokerError('config', 'configure', 'RABBITMQ_MANAGEMENT_URL is empty');
  const nodes = urls.map((u, i) => parseNode(u, urls.length > 1 ? ` (entry ${i + 1})` : ''));
  const user = nodes[0]!.user;
  const passwords = nodes.map((n) => n.password);
  const cluster = nodeList(nodes, { endpoint: (n) => n.endpoint, isNodeFailure, onFailover: options.onFailover });

  /** One request to one node; returns status and parsed JSON (if any). 404 is returned, not thrown, when allowed. */
  async function callNode(node: ManagementNode, method: string, path: string, opts: CallOptions = {}): Promise<{ status: number; json: unknown }> {
    const operation = `${method} ${path}`;
    const { base, authorization } = node;
    const timeoutMs = opts.timeoutMs ?? requestTimeoutMs;
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
      throw new BrokerError(
        'unauthorized',
        operation,
        `RabbitMQ management API at ${base} refused the credentials of RABBITMQ_MANAGEMENT_URL (${operation})`,
        401,
      );
    }
    let reason = '';
    try {
      const j = JSON.parse(text) as { reason?: unknown; error?: unknown };
      reason = String(j.reason ?? j.error ?? '');
    } catch {
      reason = text;
    }
    reason = scrub(reason, passwords).slice(0, 200);
    throw new BrokerError(
      'http',
      operation,
      `RabbitMQ management API at ${base} answered ${res.status} to ${operation}${reason ? `: ${reason}` : ''}`,
      res.status,
    );
  }

  /** One request to the cluster: the node that answered last, then the others. */
  const call = (method: string, path: string, opts?: CallOptions) => cluster.run((node) => callNode(node, method, path, opts));

  const setPermissions = (vhost: string, who: string, p: Permissions) => call('PUT', `/api/permissions/${seg(vhost)}/${seg(who)}`, { body: { ...p } });

  async function provision(vhost: string, slug: string): Promise<void> {
    const v = seg(vhost);
    await call('PUT', `/api/vhosts/${v}`, { body: { description: `voke partner ${slug}`, tags: 'voke-partner' } });
    await setPermissions(vhost, user, ADMIN_PERMISSIONS);
    const p = eventQueuePolicy(queueType);
    await call('PUT', `/api/policies/${v}/${seg(p.name)}`, {
      body: { pattern: p.pattern, 'apply-to': p.applyTo, priority: p.priority, definition: p.definition },
    });
    await call('PUT', `/api/exchanges/${v}/${seg(VCP_EXCHANGE)}`, {
      body: { type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} },
    });
    for (const q of partnerQueues(slug)) {
      await call('PUT', `/api/queues/${v}/${seg(q.name)}`, { body: { durable: true, auto_delete: false, arguments: { 'x-queue-type': queueType } } });
      for (const key of q.bindingKeys) {
        await call('POST', `/api/bindings/${v}/e/${seg(VCP_EXCHANGE)}/q/${seg(q.name)}`, { body: { routing_key: key, arguments: {} } });
      }
    }
    await setPermissions(vhost, options.serviceUser, servicePermissions(slug));
  }

  async function listConnections(vhost: string): Promise<BrokerConnection[]> {
    const { status, json } = await call('GET', `/api/vhosts/${seg(vhost)}/connections?columns=name,user,peer_host,connected_at`, { allow404: true });
    if (status === 404 || !Array.isArray(json)) return [];
    return (json as { name?: unknown; user?: unknown; peer_host?: unknown; connected_at?: unknown }[])
      .filter((c) => typeof c.name === 'string')
      .map((c) => ({
        name: c.name as string,
        user: String(c.user ?? ''),
        peerHost: String(c.peer_host ?? ''),
        ...(typeof c.connected_at === 'number' ? { connectedAt: c.connected_at } : {}),
      }));
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

  async function membersDown(): Promise<string[]> {
    const { json } = await call('GET', NODES_PATH);
    return clusterMembers(json)
      .filter((m) => !m.running)
      .map((m) => m.name);
  }

  async function deprovisionVhost(vhost: string, reason = 'API key revoked or expired'): Promise<DeprovisionResult> {
    const down = await membersDown();
    if (down.length === 0) {
      // The deletion closes the vhost's connections and refuses new ones in one step: no window in
      // which a login the broker's auth cache still holds could enter a vhost whose connections
      // were just closed.
      const { status } = await call('DELETE', `/api/vhosts/${seg(vhost)}`, { allow404: true, timeoutMs: VHOST_DELETE_TIMEOUT_MS });
      return { deleted: status !== 404 };
    }
    // A member down: the broker would close a deleted vhost's connections only once its queues are
    // gone (~35 s per vhost), holding this caller meanwhile. The listed connections are closed now
    // (a new login is refused by the auth backend); deleting waits until the member is back (or
    // is removed from the cluster), retried by the reconciler, which closes connections again on
    // every pass.
    await closeConnections({ vhost }, reason);
    throw new BrokerError(
      'deferred',
      `DELETE /api/vhosts/${vhost}`,
      `deleting vhost ${vhost} waits until cluster member${down.length > 1 ? 's' : ''} ${down.join(', ')} ${down.length > 1 ? 'are' : 'is'} back (its connections are closed)`,
    );
  }

  async function checkNodes(): Promise<BrokerNodesStatus> {
    const answers = await Promise.all(
      nodes.map(async (node) => {
        try {
          const { json } = await callNode(node, 'GET', NODES_PATH);
          cluster.record(node, undefined);
          return clusterMembers(json);
        } catch (err) {
          cluster.record(node, err);
          return undefined;
        }
      }),
    );
    // Every reachable node sees the same membership; a member is down when one that answered says so.
    const down = new Set<string>();
    for (const members of answers) for (const m of members ?? []) if (!m.running) down.add(m.name);
    return { endpoints: cluster.states(), membersDown: [...down].sort(), checkedAt: new Date() };
  }

  return {
    adminUser: user,
    queueType,
    checkNodes,
    nodeStates: () => cluster.states(),
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
          ? (queues.json as { name?: unknown; type?: unknown; durable?: unknown }[]).map((q) => ({
              name: String(q.name),
              type: String(q.type ?? 'classic'),
              durable: q.durable === true,
            }))
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
