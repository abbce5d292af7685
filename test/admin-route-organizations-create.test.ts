// POST /api/v1/admin/organizations: create an organization (super-admin).
// Happy, error and security cases of this one route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerUserNames } from '../src/broker/definitions.js';
import { Organization } from '../src/http/admin/schemas.js';
import { type AdminHarness, createAdminHarness, expectEnvelope, expectGuarded } from './support/admin.js';

let h: AdminHarness;
const ORGS = '/api/v1/admin/organizations';
beforeAll(async () => {
  h = await createAdminHarness();
});
afterAll(async () => {
  await h.close();
});

describe('POST /api/v1/admin/organizations', () => {
  it('creates an organization: 201 {id, slug, name, createdAt}', async () => {
    const r = await h.call('POST', ORGS, { body: { slug: 'acme', name: 'ACME Energy' } });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(['createdAt', 'id', 'name', 'slug']);
    expect(Organization.parse(r.body)).toMatchObject({ slug: 'acme', name: 'ACME Energy' });
    const [row] = await h.db.sql`SELECT slug, name FROM organizations WHERE id = ${r.body.id}`;
    expect(row).toEqual({ slug: 'acme', name: 'ACME Energy' });
  });

  it('a taken slug: 409 CONFLICT', async () => {
    await h.createOrg('taken-one');
    const r = await h.call('POST', ORGS, { body: { slug: 'taken-one', name: 'Again' } });
    expectEnvelope(r, 409, 'CONFLICT');
    expect(r.body.details).toEqual({ field: 'slug', reason: 'taken' });
  });

  it('a slug equal to a broker user of definitions.json: 409 CONFLICT (reserved)', async () => {
    const names = [...brokerUserNames()];
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const r = await h.call('POST', ORGS, { body: { slug: name, name: 'Impostor' } });
      // Broker user names that do not even fit the slug pattern are rejected as invalid.
      if (/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) {
        expectEnvelope(r, 409, 'CONFLICT');
        expect(r.body.details.reason).toBe('reserved');
      } else {
        expectEnvelope(r, 400, 'VALIDATION_ERROR');
      }
    }
    const [row] = await h.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM organizations WHERE slug = ANY(${names})`;
    expect(row!.n).toBe(0);
  });

  it('invalid slugs, names and unknown fields: 400 VALIDATION_ERROR', async () => {
    const bad = [
      { slug: 'ACME', name: 'n' },
      { slug: '-acme', name: 'n' },
      { slug: 'ac.me', name: 'n' },
      { slug: 'a'.repeat(64), name: 'n' },
      { slug: '', name: 'n' },
      { slug: 'ok-slug', name: '' },
      { slug: 'ok-slug', name: 'nul\u0000' },
      { slug: 'ok-slug', name: 'x'.repeat(101) },
      { slug: 'ok-slug' },
      { slug: 'ok-slug', name: 'n', extra: true },
      { slug: 42, name: 'n' },
    ];
    for (const body of bad) expectEnvelope(await h.call('POST', ORGS, { body }), 400, 'VALIDATION_ERROR');
    expect((await h.call('POST', ORGS, { body: { slug: 'a'.repeat(63), name: 'n' } })).status).toBe(201);
  });

  it('requires auth: 401', async () => {
    expectEnvelope(await h.call('POST', ORGS, { token: null, body: { slug: 'x', name: 'x' } }), 401, 'UNAUTHORIZED');
  });
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for a role that may not call it', async () => {
    const org = await h.createOrg();
    await expectGuarded(
      h,
      { method: 'POST', path: '/api/v1/admin/organizations', access: 'super-admin', body: { slug: 'guarded-org', name: 'Guarded' } },
      org.id,
    );
  });
});
