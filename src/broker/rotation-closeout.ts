// After a rotation, the connections opened with a secret that is no longer valid must close
// (within 10 s of the overlap's end; at once for an emergency rotation), while those opened with
// the new secret stay. The broker never re-checks an open connection, and its management API does
// not say which password or tags opened one: a connection shows its vhost, peer address and
// connected_at. The vhost check, which carries the connection's tags (the generation tag,
// policy/generation.ts) and its address, is where the service learns which secret was used; every
// instance records those checks (store/secret-uses.ts). A close-out matches each connection of
// the key's vhost with the checks from its address around its connected_at:
//   * opened before the kept generation existed (+ clock tolerance, + the broker auth cache TTL):
//     close (it can only have used an older secret);
//   * a check of a kept generation in its window and none of an older one: keep;
//   * otherwise close, including when both kinds of check came from its address within its window
//     (the one case the broker gives no way to tell apart; the connection reconnects with the
//     secret it holds, and a previous secret past its overlap is refused).
// The window runs from connected_at - tolerance - cache TTL (with the broker's auth cache a vhost
// check can be answered from an earlier one) to connected_at + the broker's handshake timeout
// (10 s: the vhost check comes before it, or the broker drops the connection) + tolerance.
import { normaliseAddress } from '../policy/cidr.js';
import type { SecretUse } from '../store/secret-uses.js';
import type { BrokerAdmin, BrokerConnection } from './management.js';

/** The broker's handshake_timeout (RabbitMQ default): a vhost check comes at most this long after connected_at. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How far the broker's, the database's and the service's clocks may differ. */
export const CLOCK_TOLERANCE_MS = 1_000;
/** How long a close-out keeps passing after it is due (the management API lists a connection after ~5 s). */
export const CLOSEOUT_PASSES_MS = 10_000;
/** A connection younger than this waits for a later pass: the checks of every instance are written every 0.5 s. */
export const USE_SETTLE_MS = 2_000;

export interface CloseoutRule {
  keepFromGeneration: number;
  /** Epoch ms the oldest kept generation was created (the rotation that made it). */
  generationCreatedAt: number;
  authCacheTtlMs: number;
  clockToleranceMs?: number;
  handshakeTimeoutMs?: number;
}

export type Verdict = 'keep' | 'close' | 'close-ambiguous' | 'wait';

/** Pure: what to do with one connection, given the key's recorded vhost checks. */
export function judgeConnection(c: BrokerConnection, uses: readonly SecretUse[], rule: CloseoutRule, now: number, settleMs = USE_SETTLE_MS): Verdict {
  const tolerance = rule.clockToleranceMs ?? CLOCK_TOLERANCE_MS;
  const at = c.connectedAt;
  if (at === undefined) return 'close';
  if (at < rule.generationCreatedAt + tolerance + rule.authCacheTtlMs) return 'close';
  if (now - at < settleMs) return 'wait';
  const ip = normaliseAddress(c.peerHost) ?? c.peerHost;
  const from = at - tolerance - rule.authCacheTtlMs;
  const to = at + (rule.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS) + tolerance;
  let kept = false;
  let older = false;
  for (const u of uses) {
    if (u.ip !== ip || u.lastAt < from || u.firstAt > to) continue;
    if (u.generation >= rule.keepFromGeneration) kept = true;
    else older = true;
  }
  if (kept && !older) return 'keep';
  return kept ? 'close-ambiguous' : 'close';
}

export interface CloseoutPassResult {
  closed: number;
  ambiguous: number;
  waiting: number;
}

/** One pass over a vhost: list, judge, close. `final`: the last pass, nothing waits any more. */
export async function closeOldConnections(
  broker: Pick<BrokerAdmin, 'listConnections' | 'closeConnection'>,
  vhost: string,
  uses: readonly SecretUse[],
  rule: CloseoutRule,
  now: number,
  final: boolean,
): Promise<CloseoutPassResult> {
  const out: CloseoutPassResult = { closed: 0, ambiguous: 0, waiting: 0 };
  for (const c of await broker.listConnections(vhost)) {
    const verdict = judgeConnection(c, uses, rule, now, final ? 0 : USE_SETTLE_MS);
    if (verdict === 'keep') continue;
    if (verdict === 'wait') {
      out.waiting++;
      continue;
    }
    if (await broker.closeConnection(c.name, 'API key secret replaced: reconnect with the current key')) {
      out.closed++;
      if (verdict === 'close-ambiguous') out.ambiguous++;
    }
  }
  return out;
}
