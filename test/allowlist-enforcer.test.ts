// The allowlist enforcer's decision (which open connections a new allowlist no longer admits)
// and its passes, against an in-memory connection list. The real broker runs it in
// test/e2e-key-access.test.ts.
import { describe, expect, it } from 'vitest';
import { closeConnectionsOutside, connectionsOutside, enforceAllowlist } from '../src/broker/allowlist-enforcer.js';
import type { BrokerConnection } from '../src/broker/management.js';

const conn = (name: string, peerHost: string): BrokerConnection => ({ name, user: 'acme', peerHost });

describe('connectionsOutside', () => {
  const open = [conn('a', '127.0.0.1'), conn('b', '127.0.0.2'), conn('c', '::ffff:10.1.2.3'), conn('d', '2001:db8::5'), conn('e', 'garbage')];
  it.each([
    ['a narrowed v4 list', ['127.0.0.1/32'], ['b', 'c', 'd', 'e']],
    ['a range admits the mapped form', ['10.0.0.0/8', '127.0.0.0/30'], ['d', 'e']],
    ['v6 entries', ['2001:db8::/32'], ['a', 'b', 'c', 'e']],
    ['an empty list admits everyone', [], []],
  ])('%s', (_, list, outside) => {
    expect(connectionsOutside(open, list).map((c) => c.name)).toEqual(outside);
  });
});

describe('closeConnectionsOutside / enforceAllowlist', () => {
  function fakeBroker(listings: BrokerConnection[][]) {
    const closed: string[] = [];
    let pass = 0;
    return {
      closed,
      broker: {
        async listConnections() {
          const l = listings[Math.min(pass++, listings.length - 1)]!;
          return l.filter((c) => !closed.includes(c.name));
        },
        async closeConnection(name: string) {
          closed.push(name);
          return true;
        },
      },
    };
  }

  it('closes only the connections outside the list', async () => {
    const f = fakeBroker([[conn('a', '127.0.0.1'), conn('b', '127.0.0.2')]]);
    expect(await closeConnectionsOutside(f.broker, 'partner-x', ['127.0.0.1/32'])).toBe(1);
    expect(f.closed).toEqual(['b']);
  });

  it('a connection listed only on a later pass (the stats tick) is closed then; a failing pass does not stop the next', async () => {
    const f = fakeBroker([[], [conn('late', '127.0.0.2')]]);
    let failures = 0;
    const listConnections = f.broker.listConnections;
    let first = true;
    f.broker.listConnections = async () => {
      if (first) {
        first = false;
        throw new Error('management API down');
      }
      return listConnections();
    };
    const total = await enforceAllowlist(f.broker, 'partner-x', ['127.0.0.1/32'], { passesAtMs: [0, 1, 2, 3], onError: () => failures++ });
    expect(failures).toBe(1);
    expect(total).toBe(1);
    expect(f.closed).toEqual(['late']);
  });

  it('an empty list closes nothing and asks nothing', async () => {
    const f = fakeBroker([[conn('a', '203.0.113.1')]]);
    expect(await enforceAllowlist(f.broker, 'partner-x', [], { passesAtMs: [0] })).toBe(0);
    expect(f.closed).toEqual([]);
  });
});
