// No plaintext key or signing key anywhere but the one mint response: not in any column of
// any table (in any common encoding), not in the logs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptSigningKey } from '../src/keys/signing.js';
import type { Queryable } from '../src/store/queryable.js';
import { type AdminHarness, createAdminHarness, FakeBroker } from './support/admin.js';

let h: AdminHarness;
const secrets: string[] = [];
const signingKeys: string[] = [];
const KEYS = '/api/v1/partner/api-keys';

beforeAll(async () => {
  h = await createAdminHarness({ broker: new FakeBroker() });
  const org = await h.createOrg();
  const orgAdmin = await h.orgAdminToken(org.id, { email: 'ops@example.test', name: 'Ops' });
  const scopeSets = [
    ['vcp:connect'],
    ['vcp:connect', 'vcp:write:setpoint'],
    ['vcp:connect', 'vcp:read', 'vcp:write:device-command', 'vcp:write:config'],
    ['plants:read'],
  ];
  for (const [i, scopes] of scopeSets.entries()) {
    const r = await h.call('POST', KEYS, {
      token: i % 2 ? orgAdmin : h.adminToken,
      orgId: org.id,
      body: { name: `k${i}`, partnerId: 'p', scopes, allowedIps: ['10.0.0.0/8'] },
    });
    expect(r.status).toBe(201);
    secrets.push(r.body.key);
    if (r.body.signingKey) signingKeys.push(r.body.signingKey);
    const id = r.body.apiKey.id;
    expect((await h.call('POST', `${KEYS}/${id}/test-connection`, { orgId: org.id, body: { key: r.body.key } })).status).toBe(200);
    expect((await h.call('POST', `${KEYS}/${id}/acknowledge`, { orgId: org.id })).status).toBe(200);
    if (i === 0) expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
  }
  // A failed self-test as well: its key must not survive anywhere either.
  h.broker!.probeResult = { ok: false, durationMs: 1, error: 'refused' };
  const failed = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:mode'] });
  expect(failed.status).toBe(500);
  // The key the mint generated, as the self-test presented it to the broker.
  secrets.push(h.broker!.probes.at(-1)!.password);
  h.broker!.probeResult = { ok: true, durationMs: 1 };
  expect(signingKeys).toHaveLength(2);
});
afterAll(async () => {
  await h.close();
});

/** Every form a secret could be stored in by mistake. */
function needles(): string[] {
  const out = new Set<string>();
  for (const s of [...secrets, ...signingKeys, h.adminToken]) {
    const utf8 = Buffer.from(s, 'utf8');
    out.add(s);
    out.add(encodeURIComponent(s));
    out.add(utf8.toString('hex'));
    out.add(utf8.toString('base64'));
    out.add(utf8.toString('base64url'));
  }
  for (const sk of signingKeys) {
    const raw = Buffer.from(sk, 'hex');
    out.add(raw.toString('base64'));
    out.add(raw.toString('base64url'));
    out.add(sk.toUpperCase());
  }
  return [...out].map((n) => n.toLowerCase());
}

/** Every raw byte sequence a bytea column could hold a secret as. */
function byteNeedles(): Buffer[] {
  return [...secrets.map((s) => Buffer.from(s, 'utf8')), ...signingKeys.map((s) => Buffer.from(s, 'utf8')), ...signingKeys.map((s) => Buffer.from(s, 'hex'))];
}

async function findSecrets(
  sql: Queryable = h.db.sql,
): Promise<{ hits: string[]; scanned: number; columns: { tableName: string; columnName: string; dataType: string }[] }> {
  const columns = await sql<{ tableName: string; columnName: string; dataType: string; udtName: string }[]>`
    SELECT c.table_name, c.column_name, c.data_type, c.udt_name
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
      AND (c.data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'ARRAY')
           OR c.udt_name IN ('text', 'bytea', 'json', 'jsonb'))`;
  const texts = needles();
  const bytes = byteNeedles();
  const hits: string[] = [];
  let scanned = 0;
  for (const col of columns) {
    const rows = await sql.unsafe<{ v: unknown; t: string | null }[]>(
      `SELECT ${quote(col.columnName)} AS v, ${quote(col.columnName)}::text AS t FROM ${quote(col.tableName)}`,
    );
    for (const { v, t } of rows) {
      if (t === null) continue;
      scanned++;
      const lower = t.toLowerCase();
      if (texts.some((n) => lower.includes(n))) hits.push(`${col.tableName}.${col.columnName}`);
      if (Buffer.isBuffer(v) && bytes.some((b) => v.includes(b))) hits.push(`${col.tableName}.${col.columnName} (bytes)`);
    }
  }
  return { hits, scanned, columns };
}

describe('secrets at rest', () => {
  it('appear in no text, bytea, json or array column of any table', async () => {
    const { hits, scanned, columns } = await findSecrets();
    const tables = new Set(columns.map((c) => c.tableName));
    expect([...tables].sort()).toEqual(expect.arrayContaining(['api_keys', 'audit_events', 'organizations', 'users']));
    expect(columns.some((c) => c.columnName === 'signing_key_enc' && c.dataType === 'bytea')).toBe(true);
    expect(columns.some((c) => c.columnName === 'details' && c.dataType === 'jsonb')).toBe(true);
    expect(columns.some((c) => c.columnName === 'scopes' && c.dataType === 'ARRAY')).toBe(true);
    expect(scanned).toBeGreaterThan(20);
    expect(hits).toEqual([]);
  });

  it('(control) the scan does find secrets planted in hex, base64 and raw bytes', async () => {
    const key = secrets[1]!;
    const sk = signingKeys[0]!;
    await h.db.sql
      .begin(async (tx) => {
        await tx`UPDATE users SET name = ${Buffer.from(sk, 'hex').toString('base64')} WHERE id = (SELECT id FROM users LIMIT 1)`;
        await tx`INSERT INTO audit_events (type, details) VALUES ('planted', ${tx.json({ x: Buffer.from(key).toString('hex') })})`;
        await tx`UPDATE api_keys SET signing_key_enc = ${Buffer.from(sk, 'hex')} WHERE id = (SELECT id FROM api_keys WHERE signing_key_enc IS NULL LIMIT 1)`;
        const { hits } = await findSecrets(tx);
        expect(hits).toEqual(expect.arrayContaining(['users.name', 'audit_events.details', 'api_keys.signing_key_enc (bytes)']));
        throw new Rollback();
      })
      .catch((e) => {
        if (!(e instanceof Rollback)) throw e;
      });
    expect((await findSecrets()).hits).toEqual([]);
  });

  it('the stored signing keys decrypt back to what the mint response showed', async () => {
    const rows = await h.db.sql<{ signingKeyEnc: Buffer }[]>`SELECT signing_key_enc FROM api_keys WHERE signing_key_enc IS NOT NULL`;
    const decrypted = rows.map((r) => decryptSigningKey(r.signingKeyEnc, h.config.signingKeyEncryptionKey));
    expect(decrypted.sort()).toEqual([...signingKeys].sort());
  });

  it('appear nowhere in the captured logs', () => {
    expect(h.logs.length).toBeGreaterThan(10);
    const all = h.logs.join('\n').toLowerCase();
    for (const n of needles()) expect(all.includes(n)).toBe(false);
  });
});

class Rollback extends Error {}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
