// The broker self-test of a key (mint, test-connection), in two stages:
//  1. topology check, through the management API as the operator: exchange vcp (topic, durable),
//     the six queues (durable, of the provisioned type) and their bindings from vcp. This covers
//     the command/schedule/config queues, which the partner itself may not even passively
//     declare from RabbitMQ 4.2.6 on.
//  2. partner check, over AMQP with the key (broker/probe.ts): login, vhost, and a passive declare
//     of what the partner may use (its event queues; exchange vcp for a key that may publish).
// The same checks on every broker line. Error texts name the stage and the queue.

import type { VhostTopology } from './management.js';
import { type ProbeOptions, type ProbeResult, probePartnerConnection } from './probe.js';
import { partnerQueues, VCP_EXCHANGE } from './topology.js';

/** The queue type the topology check expects when none is given (createBrokerAdmin's default). */
export const PROVISIONED_QUEUE_TYPE = 'classic';

/**
 * What is wrong with a vhost's topology for partner `slug`, one short text per problem (empty:
 * nothing). Queue types are checked only in per-key vhosts (`partner-<id>`, provisioned by the
 * service); in the legacy vhost "/" ops create the queues and may pick another type.
 */
export function topologyProblems(vhost: string, slug: string, t: VhostTopology, queueType: string = PROVISIONED_QUEUE_TYPE): string[] {
  if (t.exchange === undefined && t.queues.length === 0)
    return [`vhost ${vhost} is missing or empty (no exchange ${VCP_EXCHANGE}, no queues): not provisioned?`];
  const problems: string[] = [];
  if (t.exchange === undefined) problems.push(`exchange ${VCP_EXCHANGE} is missing`);
  else {
    if (t.exchange.type !== 'topic') problems.push(`exchange ${VCP_EXCHANGE} is of type ${t.exchange.type}, not topic`);
    if (!t.exchange.durable) problems.push(`exchange ${VCP_EXCHANGE} is not durable`);
  }
  const queues = new Map(t.queues.map((q) => [q.name, q]));
  const bindings = new Set(t.bindings.map((b) => `${b.destination}\n${b.routingKey}`));
  for (const q of partnerQueues(slug)) {
    const found = queues.get(q.name);
    if (found === undefined) {
      problems.push(`queue ${q.name} is missing`);
      continue;
    }
    if (!found.durable) problems.push(`queue ${q.name} is not durable`);
    if (vhost !== '/' && found.type !== queueType) problems.push(`queue ${q.name} is ${found.type}, not ${queueType}`);
    if (t.exchange === undefined) continue;
    for (const key of q.bindingKeys) {
      if (!bindings.has(`${q.name}\n${key}`)) problems.push(`binding ${VCP_EXCHANGE} -> ${q.name} (${key}) is missing`);
    }
  }
  return problems;
}

export interface SelfTestArgs extends ProbeOptions {
  readonly timeoutMs: number;
}

/**
 * The self-test as the admin API calls it: the topology check through `describeVhost`, then the
 * partner check within what is left of `timeoutMs`.
 */
export function createSelfTest(
  broker: { describeVhost(vhost: string): Promise<VhostTopology> },
  queueType: string = PROVISIONED_QUEUE_TYPE,
  /** The partner check; the service passes probeAnyNode over RABBITMQ_AMQP_URL's nodes. */
  probe: (args: SelfTestArgs) => Promise<ProbeResult> = probePartnerConnection,
) {
  return async (args: SelfTestArgs): Promise<ProbeResult> => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let problems: string[];
    try {
      problems = topologyProblems(args.vhost, args.slug, await broker.describeVhost(args.vhost), queueType);
    } catch (err) {
      return { ok: false, durationMs: elapsed(), failure: 'unreachable', error: `topology check (management API): ${(err as Error).message}` };
    }
    if (problems.length > 0) {
      return { ok: false, durationMs: elapsed(), failure: 'topology', error: `topology check (management API), vhost ${args.vhost}: ${problems.join('; ')}` };
    }
    const partner = await probe({ ...args, timeoutMs: Math.max(1, args.timeoutMs - elapsed()) });
    if (partner.ok) return { ok: true, durationMs: elapsed() };
    return { ...partner, durationMs: elapsed(), error: `partner check (AMQP as ${args.username}): ${partner.error}` };
  };
}
