// A narrowed allowlist must reach connections that are already open: the broker checks the
// client address only when a connection opens the vhost. After an edit, the key's vhost is
// listed through the management API and every connection whose peer address the new list no
// longer admits is closed. The management API lists a connection only after its first stats
// emission (collect_statistics_interval, 5 s by default), so the pass is repeated every second for 8 s:
// a connection opened just before the edit is closed within 10 s. New connections are refused
// by the vhost check itself (the edit's NOTIFY reaches every instance's key table).
import { ipAllowed, parseCidr } from '../policy/cidr.js';
import type { BrokerAdmin, BrokerConnection } from './management.js';

export type ConnectionCloser = Pick<BrokerAdmin, 'listConnections' | 'closeConnection'>;

/** Pure: the connections whose peer address `allowedIps` does not admit (an empty list admits all). */
export function connectionsOutside(connections: readonly BrokerConnection[], allowedIps: readonly string[]): BrokerConnection[] {
  const allowlist = allowedIps.map(parseCidr);
  return connections.filter((c) => !ipAllowed(allowlist, c.peerHost));
}

/** One pass: list the vhost's connections, close those outside the list; how many were closed. */
export async function closeConnectionsOutside(broker: ConnectionCloser, vhost: string, allowedIps: readonly string[]): Promise<number> {
  let closed = 0;
  for (const c of connectionsOutside(await broker.listConnections(vhost), allowedIps)) {
    if (await broker.closeConnection(c.name, 'client address no longer in the API key allowlist')) closed++;
  }
  return closed;
}

export interface EnforceOptions {
  /** When the passes run, in ms after the first (immediate) one; default every second up to 8 s. */
  passesAtMs?: readonly number[];
  onError?: (err: unknown) => void;
}

const DEFAULT_PASSES_AT_MS = [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000] as const;

/**
 * Applies a new allowlist to the key's open connections: passes at `passesAtMs` (see the top
 * of this file). Resolves with the total closed once the last pass ran; a failing pass is
 * reported and the next one tries again.
 */
export async function enforceAllowlist(broker: ConnectionCloser, vhost: string, allowedIps: readonly string[], o: EnforceOptions = {}): Promise<number> {
  if (allowedIps.length === 0) return 0;
  const started = Date.now();
  let closed = 0;
  for (const at of o.passesAtMs ?? DEFAULT_PASSES_AT_MS) {
    const wait = started + at - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait).unref());
    try {
      closed += await closeConnectionsOutside(broker, vhost, allowedIps);
    } catch (err) {
      o.onError?.(err);
    }
  }
  return closed;
}
