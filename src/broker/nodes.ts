// The nodes of one RabbitMQ cluster, tried in turn. RABBITMQ_MANAGEMENT_URL and RABBITMQ_AMQP_URL
// may each list several nodes; a call goes to the node that answered last and, when that node
// does not answer (refused, timed out, 5xx: the node's own trouble), to the next one. An answer
// that is the request's own fault (4xx) is final: another node of the same cluster would give
// the same. The outcome of every call is kept per node, for /readyz and /metrics.

/** What the last call to a node (or the last health check) found. */
export interface NodeState {
  /** host:port, never credentials. */
  readonly endpoint: string;
  /** undefined until the node was asked. */
  readonly reachable: boolean | undefined;
  /** Why it was not, safe to show. */
  readonly error: string | undefined;
  readonly since: Date | undefined;
}

export interface NodeList<N> {
  readonly nodes: readonly N[];
  /**
   * Runs `call` on the preferred node, then on each other node in list order while
   * `isNodeFailure` says the failure is the node's; throws the last error when none answered.
   */
  run<T>(call: (node: N) => Promise<T>): Promise<T>;
  /** Records an outcome seen outside run() (a health check). */
  record(node: N, error: unknown): void;
  states(): NodeState[];
}

export interface NodeListOptions<N> {
  /** host:port of a node, for NodeState (no credentials). */
  endpoint(node: N): string;
  /** true: the node did not answer (try the next one); false: a final answer. */
  isNodeFailure(err: unknown): boolean;
  /** A call moved on from a failing node (for a log line and a counter). */
  onFailover?(from: string, err: unknown): void;
  now?: () => Date;
}

export function nodeList<N>(nodes: readonly N[], o: NodeListOptions<N>): NodeList<N> {
  if (nodes.length === 0) throw new Error('nodeList: no nodes');
  const now = o.now ?? (() => new Date());
  const state = nodes.map((n): NodeState => ({ endpoint: o.endpoint(n), reachable: undefined, error: undefined, since: undefined }));
  let preferred = 0;

  const record = (i: number, err: unknown) => {
    const reachable = err === undefined || !o.isNodeFailure(err);
    const prev = state[i]!;
    const error = reachable ? undefined : err instanceof Error ? err.message : String(err);
    state[i] = { endpoint: prev.endpoint, reachable, error, since: prev.reachable === reachable && prev.since ? prev.since : now() };
  };

  return {
    nodes,
    async run(call) {
      let lastError: unknown;
      for (let k = 0; k < nodes.length; k++) {
        const i = (preferred + k) % nodes.length;
        try {
          const result = await call(nodes[i]!);
          record(i, undefined);
          preferred = i;
          return result;
        } catch (err) {
          record(i, err);
          if (!o.isNodeFailure(err)) {
            preferred = i; // it answered: the failure is the request's
            throw err;
          }
          lastError = err;
          if (k < nodes.length - 1) o.onFailover?.(state[i]!.endpoint, err);
        }
      }
      throw lastError;
    },
    record(node, error) {
      const i = nodes.indexOf(node);
      if (i >= 0) record(i, error);
    },
    states: () => [...state],
  };
}
