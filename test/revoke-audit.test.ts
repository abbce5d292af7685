// migrations/005: every revocation, through the API or plain SQL, leaves exactly one
// api_key.revoked audit row; a SQL one says so (details.via "sql", no actor).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdminHarness, createAdminHarness } from './support/admin.js';

let h: AdminHarness;
let org: { id: string; slug: string };
const KEYS = '/api/v1/partner/api-keys';

beforeAll(async () => {
  h = await createAdminHarness();
  org = await h.createOrg();
});
afterAll(async () => {
  await h.close();
});

async function mintKey(): Promise<string> {
  const r = await h.mint(org.id);
  expect(r.status).toBe(201);
  return r.body.apiKey.id as string;
}

interface RevokedRow {
  actorId: string | null;
  details: Record<string, unknown>;
  organizationId: string;
}
const revokedRows = (keyId: string) =>
  h.db.sql<RevokedRow[]>`SELECT actor_id, details, organization_id FROM audit_events WHERE api_key_id = ${keyId} AND type = 'api_key.revoked'`;
const revokedAt = async (keyId: string) => (await h.db.sql<{ revokedAt: Date | null }[]>`SELECT revoked_at FROM api_keys WHERE id = ${keyId}`)[0]!.revokedAt;

describe('revocation audit', () => {
  it('a plain SQL revoke leaves exactly one row saying via sql, with no actor', async () => {
    const id = await mintKey();
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
    const rows = await revokedRows(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.actorId).toBeNull();
    expect(rows[0]!.organizationId).toBe(org.id);
    expect(rows[0]!.details).toMatchObject({ via: 'sql' });
    expect(await revokedAt(id)).toBeInstanceOf(Date);
    // The API lists it like any other revocation.
    const r = await h.call('GET', `/api/v1/partner/audit-events?type=api_key.revoked&apiKeyId=${id}`, { orgId: org.id });
    expect(r.body.data).toHaveLength(1);
    expect(r.body.data[0]).toMatchObject({ actorId: null, details: { via: 'sql' } });
  });

  it('an API revoke leaves exactly one row, its own (with the actor, not via sql)', async () => {
    const id = await mintKey();
    const r = await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id, headers: { 'user-agent': 'ops-cli/1' } });
    expect(r.status).toBe(200);
    const rows = await revokedRows(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.actorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(rows[0]!.details).not.toHaveProperty('via');
    // Revoking again through either path changes nothing and writes nothing.
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
    expect(await revokedRows(id)).toHaveLength(1);
  });

  it('an API revoke after a SQL one is not a second revocation', async () => {
    const id = await mintKey();
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    const rows = await revokedRows(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.details).toMatchObject({ via: 'sql' });
  });

  it('one statement revoking several keys leaves one row per key', async () => {
    const ids = [await mintKey(), await mintKey(), await mintKey()];
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ANY(${ids}::uuid[])`;
    for (const id of ids) expect(await revokedRows(id)).toHaveLength(1);
  });

  it('a rolled-back revoke, or one undone in the same transaction, leaves none', async () => {
    const id = await mintKey();
    await h.db.sql
      .begin(async (tx) => {
        await tx`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await h.db.sql.begin(async (tx) => {
      await tx`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
      await tx`UPDATE api_keys SET is_active = true WHERE id = ${id}`;
    });
    expect(await revokedRows(id)).toHaveLength(0);
    expect(await revokedAt(id)).toBeNull();
  });

  it('a key re-activated in SQL is revoked again by the API, with one new row', async () => {
    const id = await mintKey();
    await h.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
    await h.db.sql`UPDATE api_keys SET is_active = true WHERE id = ${id}`;
    expect(await revokedAt(id)).toBeNull();
    expect((await h.call('DELETE', `${KEYS}/${id}`, { orgId: org.id })).status).toBe(200);
    const [row] = await h.db.sql<{ isActive: boolean }[]>`SELECT is_active FROM api_keys WHERE id = ${id}`;
    expect(row!.isActive).toBe(false);
    const rows = await revokedRows(id);
    expect(rows).toHaveLength(2);
    expect(rows.filter((r) => r.details.via === 'sql')).toHaveLength(1);
    expect(rows.filter((r) => r.actorId !== null)).toHaveLength(1);
  });

  it('a writer that audits the revoke itself, inside a savepoint, is not audited twice', async () => {
    const id = await mintKey();
    await h.db.sql.begin(async (tx) => {
      await tx`UPDATE api_keys SET is_active = false, revoked_at = now() WHERE id = ${id}`;
      await tx.savepoint(async (sp) => {
        await sp`INSERT INTO audit_events (type, organization_id, api_key_id, details)
                 VALUES ('api_key.revoked', ${org.id}, ${id}, ${sp.json({ reason: 'leaked' })})`;
      });
    });
    const rows = await revokedRows(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.details).toEqual({ reason: 'leaked' });
  });

  it('revoking and deleting the organization in one transaction commits (no row for a deleted key)', async () => {
    const gone = await h.createOrg();
    const r = await h.mint(gone.id);
    const id = r.body.apiKey.id as string;
    await h.db.sql.begin(async (tx) => {
      await tx`UPDATE api_keys SET is_active = false WHERE id = ${id}`;
      await tx`DELETE FROM organizations WHERE id = ${gone.id}`;
    });
    expect(await revokedRows(id)).toHaveLength(0);
  });
});
