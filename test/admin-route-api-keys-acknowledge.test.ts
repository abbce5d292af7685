// POST /api/v1/partner/api-keys/:id/acknowledge: the reveal bundle was saved.
// Happy, error and security cases of this one route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Message } from '../src/http/admin/schemas.js';
import { type AdminHarness, expectEnvelope, expectGuarded, harnessWithTwoOrgs, type Org } from './support/admin.js';

let h: AdminHarness;
let org: Org;
let other: Org;
const KEYS = '/api/v1/partner/api-keys';

beforeAll(async () => ({ h, org, other } = await harnessWithTwoOrgs()));
afterAll(async () => {
  await h.close();
});

describe('POST /api/v1/partner/api-keys/:id/acknowledge', () => {
  it('sets acknowledged_at once and audits once', async () => {
    const id = (await h.mint(org.id)).body.apiKey.id as string;
    const first = await h.call('POST', `${KEYS}/${id}/acknowledge`, { orgId: org.id });
    expect(first.status).toBe(200);
    expect(Message.parse(first.body)).toEqual({ message: 'Bundle acknowledged' });
    const [row] = await h.db.sql`SELECT acknowledged_at FROM api_keys WHERE id = ${id}`;
    expect(row!.acknowledgedAt).toBeInstanceOf(Date);
    expect((await h.call('POST', `${KEYS}/${id}/acknowledge`, { orgId: org.id, body: {} })).status).toBe(200);
    const [again] = await h.db.sql`SELECT acknowledged_at FROM api_keys WHERE id = ${id}`;
    expect(again!.acknowledgedAt).toEqual(row!.acknowledgedAt);
    const events = await h.db.sql`SELECT 1 FROM audit_events WHERE api_key_id = ${id} AND type = 'api_key.bundle_acknowledged'`;
    expect(events).toHaveLength(1);
  });

  it('errors: other org 404, not a UUID 400, unknown body field 400', async () => {
    const theirs = (await h.mint(other.id)).body.apiKey.id as string;
    expectEnvelope(await h.call('POST', `${KEYS}/${theirs}/acknowledge`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    expectEnvelope(await h.call('POST', `${KEYS}/nope/acknowledge`, { orgId: org.id }), 400, 'INVALID_UUID');
    const mine = (await h.mint(org.id)).body.apiKey.id as string;
    expectEnvelope(await h.call('POST', `${KEYS}/${mine}/acknowledge`, { orgId: org.id, body: { saved: true } }), 400, 'VALIDATION_ERROR');
  });
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
    await expectGuarded(h, { method: 'POST', path: `${KEYS}/${(await h.mint(org.id)).body.apiKey.id}/acknowledge`, access: 'org' }, org.id);
  });
});
