// GET /api/v1/partner/api-keys/:id: one key, never its secret.
// Happy, error and security cases of this one route.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey } from '../src/http/admin/schemas.js';
import { type AdminHarness, API_KEY_FIELDS, expectEnvelope, expectGuarded, harnessWithTwoOrgs, type Org } from './support/admin.js';

let h: AdminHarness;
let org: Org;
let other: Org;
const KEYS = '/api/v1/partner/api-keys';

beforeAll(async () => ({ h, org, other } = await harnessWithTwoOrgs()));
afterAll(async () => {
  await h.close();
});
const DETAIL_FIELDS = [...API_KEY_FIELDS, 'connection'].sort();

describe('GET /api/v1/partner/api-keys/:id', () => {
  it('returns the key without any secret', async () => {
    const minted = await h.mint(org.id, { scopes: ['vcp:connect', 'vcp:write:mode'] });
    const r = await h.call('GET', `${KEYS}/${minted.body.apiKey.id}`, { orgId: org.id });
    expect(r.status).toBe(200);
    expect(ApiKey.parse(r.body)).toEqual(minted.body.apiKey);
    expect(Object.keys(r.body).sort()).toEqual(DETAIL_FIELDS);
    expect(r.text).not.toContain(minted.body.key);
    expect(r.text).not.toContain(encodeURIComponent(minted.body.key));
    expect(r.text).not.toContain(minted.body.signingKey);
  });

  it('carries the connection values: host, port, username, vhost, the six queues, the URI with <API_KEY> where the key goes', async () => {
    const minted = await h.mint(org.id, { scopes: ['vcp:connect'] });
    const id = minted.body.apiKey.id;
    const r = await h.call('GET', `${KEYS}/${id}`, { orgId: org.id });
    expect(r.status).toBe(200);
    expect(r.body.connection).toEqual({
      uri: `amqps://${org.slug}:<API_KEY>@amqp.example.test:5671/partner-${id}`,
      host: 'amqp.example.test',
      port: 5671,
      username: org.slug,
      vhost: `partner-${id}`,
      queues: {
        telemetry: `vcp.${org.slug}.event.telemetry`,
        alarm: `vcp.${org.slug}.event.alarm`,
        status: `vcp.${org.slug}.event.status`,
        command: `vcp.${org.slug}.command`,
        schedule: `vcp.${org.slug}.schedule`,
        config: `vcp.${org.slug}.config`,
      },
      // Minted without a broker: no queues were provisioned.
      queueType: null,
    });
    // The mint's URI is the same with the key in place of the placeholder.
    expect(minted.body.connection.uri).toBe(r.body.connection.uri.replace('<API_KEY>', encodeURIComponent(minted.body.key)));
  });

  it('a REST-only key (no vcp:connect) has no vhost and connection null; a legacy key (vhost null, connect) is on "/"', async () => {
    const rest = await h.mint(org.id, { scopes: ['plants:read', 'telemetry:read'] });
    const r = await h.call('GET', `${KEYS}/${rest.body.apiKey.id}`, { orgId: org.id });
    expect(r.status).toBe(200);
    expect(r.body.vhost).toBeNull();
    expect(r.body.connection).toBeNull();

    const legacy = await h.mint(org.id, { scopes: ['vcp:connect'] });
    await h.db.sql`UPDATE api_keys SET vhost = NULL WHERE id = ${legacy.body.apiKey.id}`;
    const l = await h.call('GET', `${KEYS}/${legacy.body.apiKey.id}`, { orgId: org.id });
    expect(l.body.connection.vhost).toBe('/');
    expect(l.body.connection.uri).toBe(`amqps://${org.slug}:<API_KEY>@amqp.example.test:5671/%2F`);
  });

  it("another organization's key: 404 API_KEY_NOT_FOUND; unknown id: 404; not a UUID: 400 INVALID_UUID", async () => {
    const theirs = await h.mint(other.id);
    expectEnvelope(await h.call('GET', `${KEYS}/${theirs.body.apiKey.id}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    expectEnvelope(await h.call('GET', `${KEYS}/${randomUUID()}`, { orgId: org.id }), 404, 'API_KEY_NOT_FOUND');
    const bad = await h.call('GET', `${KEYS}/not-a-uuid`, { orgId: org.id });
    expectEnvelope(bad, 400, 'INVALID_UUID');
    expect(bad.body.message).toBe('Invalid API key UUID');
  });
});

describe('security', () => {
  it('refused before anything happens: 401 without a valid bearer token, 403 for a role or org that may not call it', async () => {
    await expectGuarded(h, { method: 'GET', path: `${KEYS}/${(await h.mint(org.id)).body.apiKey.id}`, access: 'org' }, org.id);
  });
});
