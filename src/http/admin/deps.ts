// What the admin app needs from the process that hosts it: the key lifecycle's needs
// (src/keys/deps.ts) plus the health and metrics answers.
import type { KeyDeps } from '../../keys/deps.js';
import type { RestCheck } from '../../keys/rest-check.js';

export type { AdminBroker, BrokerProbeArgs, BrokerProbeResult } from '../../keys/deps.js';

/** /readyz details on the broker's nodes (RABBITMQ_MANAGEMENT_URL entries). */
export interface BrokerNodesReadiness {
  queueType: 'classic' | 'quorum';
  nodes: { endpoint: string; reachable: boolean | null; since: string | null; error?: string }[];
  unreachable: number;
  membersDown: string[];
  checkedAt: string | null;
}

export interface AdminDeps extends KeyDeps {
  /**
   * The REST key check (keys/rest-check.ts) on this instance's key table, for the verify API;
   * absent in an app built without the service (the route then answers 500).
   */
  checkKey?: RestCheck;
  ready(): Promise<{
    database: boolean;
    listen: boolean;
    keyTable?: { keys: number; stale: boolean; staleSince: string | null };
    brokerDeprovisioning?: { pending: number; oldestSince: string | null; brokerAuthCacheTtlMs: number };
    broker?: BrokerNodesReadiness;
  }>;
  metrics(): Promise<{ contentType: string; body: string }>;
}
