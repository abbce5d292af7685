// After a rotation, the connections opened with a secret that is no longer valid must close
// (within 10 s of the overlap's end; at once for an emergency rotation), while those opened with
// the new secret stay. The broker never re-checks an open connection, and its management API does
// not say which password or tags opened one: a connection shows its vhost, peer address, port and
// connected_at. The vhost check, which carries the connection's tags (the generation tag,
// policy/generation.ts) and its address, is where the service learns which secret was used; every
// instance records each check of a rotated key (store/secret-uses.ts). A close-out pairs the
// connections of the key's vhost with those checks, per client address:
//   * a connection opened before the kept generation existed (+ clock tolerance, + the broker
//     auth cache TTL) can only have used an older secret: closed;
//   * a check can belong to a connection whose connected_at is at most the broker's handshake
//     timeout (10 s) before it (the broker drops a connection that is not open by then) and not
//     after it, give or take the clock tolerance;
//   * every check opened exactly one connection (without the broker's auth cache), so the
//     connections are matched one to one with checks. A connection is kept when EVERY such
//     matching gives it a check of a kept generation; when some matching could give it an older
//     one (two connections from one address, one per secret, whose handshakes overlapped in time),
//     it is closed and counted as ambiguous — the one case the broker gives no way to tell apart;
//     it reconnects with the secret it holds.
//   * with the auth cache a check may be answered by the broker from an earlier one (no record),
//     so the one-to-one pairing does not hold: a connection is kept when its address passed checks
//     of a kept generation and none of an older one in its window, widened by the TTL. The same
//     rule applies when the checks cannot cover every connection (a record lost with an instance).
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
/** Above this many connections from one address the pairing is not attempted (the address rule decides). */
const MAX_MATCHED_PER_ADDRESS = 64;

export interface CloseoutRule {
  keepFromGeneration: number;
  /** Epoch ms the oldest kept generation was created (the rotation that made it). */
  generationCreatedAt: number;
  authCacheTtlMs: number;
  clockToleranceMs?: number;
  handshakeTimeoutMs?: number;
}

export type Verdict = 'keep' | 'close' | 'close-ambiguous' | 'wait';

interface Window {
  from: number;
  to: number;
}

function windowOf(at: number, rule: CloseoutRule): Window {
  const tolerance = rule.clockToleranceMs ?? CLOCK_TOLERANCE_MS;
  return { from: at - tolerance - rule.authCacheTtlMs, to: at + (rule.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS) + tolerance };
}

/** What needs no pairing: too old (close), too young (wait), or undefined (to be judged). */
function preliminary(c: BrokerConnection, rule: CloseoutRule, now: number, settleMs: number): Verdict | undefined {
  const at = c.connectedAt;
  if (at === undefined) return 'close';
  if (at < rule.generationCreatedAt + (rule.clockToleranceMs ?? CLOCK_TOLERANCE_MS) + rule.authCacheTtlMs) return 'close';
  if (now - at < settleMs) return 'wait';
  return undefined;
}

/** The address rule: kept when its address passed only kept generations' checks in its window (and at least one). */
function byAddress(c: BrokerConnection, uses: readonly SecretUse[], rule: CloseoutRule): Verdict {
  const w = windowOf(c.connectedAt!, rule);
  let kept = false;
  let older = false;
  for (const u of uses) {
    if (u.at < w.from || u.at > w.to) continue;
    if (u.generation >= rule.keepFromGeneration) kept = true;
    else older = true;
  }
  if (kept && !older) return 'keep';
  return kept ? 'close-ambiguous' : 'close';
}

/** Pure: one connection by the address rule (uses of any address; only its own count). */
export function judgeConnection(c: BrokerConnection, uses: readonly SecretUse[], rule: CloseoutRule, now: number, settleMs = USE_SETTLE_MS): Verdict {
  const early = preliminary(c, rule, now, settleMs);
  if (early !== undefined) return early;
  const ip = addressOf(c);
  return byAddress(
    c,
    uses.filter((u) => u.ip === ip),
    rule,
  );
}

function addressOf(c: BrokerConnection): string {
  return normaliseAddress(c.peerHost) ?? c.peerHost;
}

/**
 * Pure: a verdict for every connection of the vhost (same order), pairing connections and checks
 * per address as described at the top of this file.
 */
export function judgeConnections(
  connections: readonly BrokerConnection[],
  uses: readonly SecretUse[],
  rule: CloseoutRule,
  now: number,
  settleMs = USE_SETTLE_MS,
): Verdict[] {
  const verdicts: Verdict[] = connections.map((c) => preliminary(c, rule, now, settleMs) ?? 'keep');
  const groups = new Map<string, number[]>();
  connections.forEach((c, i) => {
    if (preliminary(c, rule, now, settleMs) !== undefined) return;
    const ip = addressOf(c);
    groups.set(ip, [...(groups.get(ip) ?? []), i]);
  });
  for (const [ip, members] of groups) {
    const own = uses.filter((u) => u.ip === ip);
    const paired =
      rule.authCacheTtlMs === 0 && members.length <= MAX_MATCHED_PER_ADDRESS
        ? pairedVerdicts(
            members.map((i) => connections[i]!),
            own,
            rule,
          )
        : undefined;
    members.forEach((i, k) => {
      verdicts[i] = paired?.[k] ?? byAddress(connections[i]!, own, rule);
    });
  }
  return verdicts;
}

/**
 * One address's connections against its checks, one to one. undefined when the checks cannot
 * cover every connection (some check was not recorded): the address rule decides then.
 */
function pairedVerdicts(conns: readonly BrokerConnection[], uses: readonly SecretUse[], rule: CloseoutRule): Verdict[] | undefined {
  const candidates = conns.map((c) => {
    const w = windowOf(c.connectedAt!, rule);
    const out: number[] = [];
    uses.forEach((u, j) => {
      if (u.at >= w.from && u.at <= w.to) out.push(j);
    });
    return out;
  });
  if (!coverable(candidates, -1, -1)) return undefined;
  return conns.map((_, i) => {
    const mine = candidates[i]!;
    const keptChecks = mine.filter((j) => uses[j]!.generation >= rule.keepFromGeneration);
    const olderChecks = mine.filter((j) => uses[j]!.generation < rule.keepFromGeneration);
    // Kept only if no pairing of all connections can give this one a check of an older secret.
    const couldBeOlder = olderChecks.some((j) => coverable(candidates, i, j));
    if (!couldBeOlder) return keptChecks.length > 0 ? 'keep' : 'close';
    return keptChecks.some((j) => coverable(candidates, i, j)) ? 'close-ambiguous' : 'close';
  });
}

/**
 * Whether every connection can get its own check (Kuhn's augmenting paths), with connection
 * `fixed` given check `check` (both -1: no constraint).
 */
function coverable(candidates: readonly number[][], fixed: number, check: number): boolean {
  const owner = new Map<number, number>();
  if (fixed >= 0) owner.set(check, fixed);
  const tryAssign = (i: number, seen: Set<number>): boolean => {
    for (const j of candidates[i]!) {
      if (seen.has(j)) continue;
      seen.add(j);
      const current = owner.get(j);
      if (current === undefined || tryAssign(current, seen)) {
        owner.set(j, i);
        return true;
      }
    }
    return false;
  };
  for (let i = 0; i < candidates.length; i++) {
    if (i === fixed) continue;
    if (!tryAssign(i, new Set(fixed >= 0 ? [check] : []))) return false;
  }
  return true;
}

export interface CloseoutPassResult {
  closed: number;
  ambiguous: number;
  waiting: number;
  /** `seen` and the connections this pass listed: the next pass's `seen`. */
  seen: BrokerConnection[];
}

/**
 * One pass over a vhost: list, judge, close. `seen`: the connections earlier passes of this
 * close-out listed; they are judged along (each took a check, whether it is still open or was
 * closed since) but only listed ones are closed. `final`: the last pass, nothing waits any more.
 */
export async function closeOldConnections(
  broker: Pick<BrokerAdmin, 'listConnections' | 'closeConnection'>,
  vhost: string,
  uses: readonly SecretUse[],
  rule: CloseoutRule,
  now: number,
  final: boolean,
  seen: readonly BrokerConnection[] = [],
): Promise<CloseoutPassResult> {
  const connections = await broker.listConnections(vhost);
  const listed = new Set(connections.map((c) => c.name));
  const all = [...connections, ...seen.filter((c) => !listed.has(c.name))];
  const out: CloseoutPassResult = {
    closed: 0,
    ambiguous: 0,
    waiting: 0,
    seen: all.map(({ name, peerHost, connectedAt, user }) => ({ name, user, peerHost, ...(connectedAt === undefined ? {} : { connectedAt }) })),
  };
  const verdicts = judgeConnections(all, uses, rule, now, final ? 0 : USE_SETTLE_MS);
  for (let i = 0; i < connections.length; i++) {
    const verdict = verdicts[i]!;
    if (verdict === 'keep') continue;
    if (verdict === 'wait') {
      out.waiting++;
      continue;
    }
    if (await broker.closeConnection(connections[i]!.name, 'API key secret replaced: reconnect with the current key')) {
      out.closed++;
      if (verdict === 'close-ambiguous') out.ambiguous++;
    }
  }
  return out;
}
