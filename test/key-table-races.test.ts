// The key table's ordering rules, with a source whose answers the test releases by hand (the
// interleavings a database only produces by chance): a read that started before a change is
// never stored or answered, and a changed key is never answered from its old entry.
import { describe, expect, it } from 'vitest';
import { KeyTable, type KeyTableSource, LOOKUP_FAILED } from '../src/cache/key-table.js';
import type { AuthKeyRow } from '../src/store/auth-keys.js';

const ID = '00000000-0000-4000-8000-000000000001';
const row = (over: Partial<AuthKeyRow> = {}): AuthKeyRow => ({
  id: ID,
  organizationId: '00000000-0000-4000-8000-0000000000aa',
  orgSlug: 'acme',
  keyHash: 'h-current',
  vhost: `partner-${ID}`,
  isActive: true,
  expiresAt: null,
  scopes: ['vcp:connect'],
  allowedIps: [],
  legacyScopeExpansion: false,
  connected: false,
  probeUntil: null,
  probeIps: [],
  ...over,
});

/** Every read waits until the test resolves it with the row the "database" holds then. */
function manualSource(initial: AuthKeyRow[]) {
  const waiting: { resolve: (r: AuthKeyRow | undefined) => void }[] = [];
  const read = () => new Promise<AuthKeyRow | undefined>((resolve) => waiting.push({ resolve }));
  const source: KeyTableSource = {
    loadAll: async (onRows) => onRows(initial),
    byHashes: read,
    byId: read,
    byOrganization: async () => [],
    rewriteHash: async () => {},
  };
  return { source, waiting };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('KeyTable ordering', () => {
  it('a miss read that started before a change is not stored nor answered; the re-read is', async () => {
    const { source, waiting } = manualSource([]);
    const table = new KeyTable(source);
    await table.reload();
    const answer = table.loginMiss('h-current', () => ['h-current', 'h-legacy']) as Promise<unknown>;
    expect(waiting).toHaveLength(1);
    table.applyChange(`api_keys:UPDATE:${ID}`); // the key was revoked while the read was out
    expect(waiting).toHaveLength(2); // the change's own re-read
    waiting[0]!.resolve(row()); // the miss read saw the row from before the revoke
    await tick();
    expect(table.byId(ID)).toBeUndefined();
    expect(waiting).toHaveLength(3); // so it reads again
    waiting[1]!.resolve(row({ isActive: false })); // the change's re-read
    waiting[2]!.resolve(row({ isActive: false }));
    expect(await answer).toMatchObject({ id: ID, isActive: false });
    expect(table.byId(ID)).toBeUndefined();
  });

  it('a changed key is never answered from its old entry: calls wait for its re-read', async () => {
    const { source, waiting } = manualSource([row()]);
    const table = new KeyTable(source);
    await table.reload();
    expect(table.byHash('h-current')?.id).toBe(ID);
    table.applyChange(`api_keys:UPDATE:${ID}`);
    expect(table.byHash('h-current')).toBeUndefined();
    expect(table.byId(ID)).toBeUndefined();
    const byHash = table.loginMiss('h-current', () => ['h-current']);
    const byId = table.idMiss(ID);
    expect(byHash).toBeInstanceOf(Promise);
    expect(waiting).toHaveLength(1); // no extra database read: they wait for the re-read
    waiting[0]!.resolve(row({ isActive: false }));
    expect(await byId).toMatchObject({ isActive: false });
    // the hash is not in the table (the key is revoked): it goes to the database once
    await tick();
    expect(waiting).toHaveLength(2);
    waiting[1]!.resolve(row({ isActive: false }));
    expect(await byHash).toMatchObject({ isActive: false });
  });

  it('a re-read that started before a whole-table swap is not stored over it', async () => {
    const rows = [row()];
    const { source, waiting } = manualSource(rows);
    const table = new KeyTable(source);
    await table.reload();
    table.applyChange(`api_keys:UPDATE:${ID}`);
    rows[0] = row({ keyHash: 'h-new' });
    await table.reload(); // LISTEN reconnected: the newer snapshot wins
    waiting[0]!.resolve(row({ keyHash: 'h-old-read' }));
    await tick();
    expect(table.byHash('h-new')?.id).toBe(ID);
    expect(table.byHash('h-old-read')).toBeUndefined();
  });

  it('a miss past the budget is denied without a read', async () => {
    const { source, waiting } = manualSource([]);
    const table = new KeyTable(source, { missLookupsPerSecond: 1, monotonicNow: () => 0 });
    await table.reload();
    void table.loginMiss('a', () => ['a']);
    expect(table.loginMiss('b', () => ['b'])).toBe(LOOKUP_FAILED);
    expect(waiting).toHaveLength(1);
  });

  it('a call waits at most answerDeadlineMs for a miss read or a re-read; the read goes on and what it finds is kept', async () => {
    const { source, waiting } = manualSource([]);
    const outcomes: string[] = [];
    const table = new KeyTable(source, { answerDeadlineMs: 20, onLookup: (_kind, outcome) => outcomes.push(outcome) });
    await table.reload();
    expect(await table.idMiss(ID)).toBe(LOOKUP_FAILED); // the read hangs (a database gone silent): denied at the deadline
    expect(outcomes).toEqual(['late']);
    const again = table.idMiss(ID); // joins the read still out, with a deadline of its own
    expect(waiting).toHaveLength(1);
    expect(await again).toBe(LOOKUP_FAILED);
    waiting[0]!.resolve(row()); // the database answers after all
    await tick();
    expect(table.byId(ID)).toMatchObject({ id: ID }); // kept: the next call is a hit
    expect(outcomes).toEqual(['late', 'late', 'ok']);

    table.keyChanged(ID); // a change: the key is re-read, and calls for it wait for that read
    expect(waiting).toHaveLength(2);
    expect(await table.idMiss(ID)).toBe(LOOKUP_FAILED); // the re-read hangs: the same deadline
    expect(await table.loginMiss('h-current', () => ['h-current'])).toBe(LOOKUP_FAILED);
    expect(outcomes).toEqual(['late', 'late', 'ok', 'late', 'late']);
    waiting[1]!.resolve(row());
    await tick();
    expect(table.byId(ID)).toMatchObject({ id: ID });
  });
});
