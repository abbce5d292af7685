// The service's own AMQP login as a key (the mint's self-test and test-connection): run inside
// the key's probe window (migrations/006), so a key whose allowlist excludes this host still
// passes, for this host's own addresses and for PROBE_WINDOW_MS at most.
import { probeSourceAddresses } from '../broker/probe.js';
import { closeProbeWindow, openProbeWindow } from '../store/api-keys.js';
import type { Sql } from '../store/db.js';
import type { AdminBroker, BrokerProbeResult, KeyDeps } from './deps.js';

/** How long a probe window stays open at most (and so how long a probe may take). */
export const PROBE_WINDOW_MS = 10_000;

export interface ProbeWindowContext {
  sql: Sql;
  now: () => Date;
  /** Called after the window opened and after it closed (this instance's cache; others get the NOTIFY). */
  onChange?: () => void;
}

/**
 * Runs `probe` inside the key's probe window: for PROBE_WINDOW_MS at most, logins with this key
 * from `ips` (the probing host's own addresses) pass its vhost check even outside its allowlist.
 * `probe` gets the time left in the window as its timeout. The window is closed when the probe
 * ends, whatever the outcome; if closing fails it ends by itself.
 */
export async function withProbeWindow<T>(ctx: ProbeWindowContext, id: string, ips: readonly string[], probe: (timeoutMs: number) => Promise<T>): Promise<T> {
  const until = new Date(ctx.now().getTime() + PROBE_WINDOW_MS);
  await openProbeWindow(ctx.sql, id, until, ips);
  ctx.onChange?.();
  try {
    return await probe(Math.max(0, until.getTime() - ctx.now().getTime()));
  } finally {
    await closeProbeWindow(ctx.sql, id, until, ctx.now()).catch(() => undefined);
    ctx.onChange?.();
  }
}

/** Who the probe logs in as. */
export interface ProbeLogin {
  keyId: string;
  slug: string;
  vhost: string;
  /** The key's secret (never logged; the caller scrubs it from errors). */
  password: string;
  /** The key has a vcp:write:* scope: the partner check passive-declares exchange vcp too. */
  canPublish: boolean;
}

/**
 * Logs in over AMQP as the partner (broker.probe) from this host, inside the key's probe window.
 * Throws when the window cannot be opened or the probe itself throws; a refused login is a result.
 */
export async function probeInWindow(deps: KeyDeps, broker: AdminBroker, amqpUrl: string, login: ProbeLogin): Promise<BrokerProbeResult> {
  const ips = await probeSourceAddresses(amqpUrl);
  const ctx = { sql: deps.sql, now: deps.now, onChange: () => deps.evictKey?.(login.keyId) };
  return withProbeWindow(ctx, login.keyId, ips, (timeoutMs) =>
    broker.probe({ amqpUrl, username: login.slug, password: login.password, vhost: login.vhost, slug: login.slug, canPublish: login.canPublish, timeoutMs }),
  );
}
