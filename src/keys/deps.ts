// What the key lifecycle (mint, revoke, test-connection, probe windows) needs from the process
// that hosts it. Structural on purpose: the service wires the real broker client
// (src/broker/management.ts, src/broker/probe.ts) into `broker`, tests pass fakes.
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Sql } from '../store/db.js';
import type { KeyHasher } from './hash.js';

export interface BrokerProbeArgs {
  /** Base AMQP URL without credentials (config.rabbitmqAmqpUrl); the service's probe tries every node of config.rabbitmqAmqpUrls. */
  amqpUrl: string;
  username: string;
  password: string;
  vhost: string;
  slug: string;
  /** The key has a vcp:write:* scope (the partner check then passive-declares exchange vcp too). */
  canPublish: boolean;
  timeoutMs: number;
}

export type BrokerProbeResult = { ok: true; durationMs: number } | { ok: false; durationMs: number; error: string };

export interface AdminBroker {
  /** Vhost with exchange `vcp`, the six queues, bindings and permissions. Idempotent. */
  provisionKeyVhost(input: { vhost: string; slug: string }): Promise<unknown>;
  /** Closes the vhost's connections and deletes it; an absent vhost is not an error. */
  deprovisionVhost(vhost: string, reason?: string): Promise<unknown>;
  /**
   * The self-test (src/broker/self-test.ts): the vhost's exchange, queues and bindings through the
   * management API, then a login as the partner and a passive declare of what it may use.
   */
  probe(args: BrokerProbeArgs): Promise<BrokerProbeResult>;
  /**
   * Closes the vhost's open connections from addresses `allowedIps` no longer admits, in the
   * background, within 10 s (src/broker/allowlist-enforcer.ts). Called after an allowlist edit.
   */
  enforceAllowlist?(vhost: string, allowedIps: readonly string[]): void;
}

export interface KeyDeps {
  sql: Sql;
  config: Config;
  log: Logger;
  hasher: KeyHasher;
  now: () => Date;
  /** Undefined when RABBITMQ_MANAGEMENT_URL is unset: no provisioning, self-test "skipped". */
  broker?: AdminBroker;
  /**
   * Drops a key from this instance's hot-path cache right after a change commits, so this
   * instance never depends on its own NOTIFY arriving first. Other instances ride the NOTIFY.
   */
  evictKey?: (id: string) => void;
}
