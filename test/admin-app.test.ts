// The admin app as a whole: ops routes, the error envelope, body limits, OpenAPI, and
// running inside a real HTTP listener.

import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES, MAX_BODY_BYTES } from '../src/http/admin/app.js';
import { API_KEY_SCOPES } from '../src/policy/scopes.js';
import { type AdminHarness, createAdminHarness, expectEnvelope } from './support/admin.js';

let h: AdminHarness;
let orgId: string;
beforeAll(async () => {
  h = await createAdminHarness();
  orgId = (await h.createOrg()).id;
});
afterAll(async () => {
  await h.close();
});

describe('operations routes', () => {
  it('GET /healthz answers without auth', async () => {
    const r = await h.call('GET', '/healthz', { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz is 200 when ready and 503 when the database or LISTEN is down', async () => {
    expect((await h.call('GET', '/readyz', { token: null })).body).toMatchObject({ status: 'ready', database: true, listen: true });
    h.ready.listen = false;
    const r = await h.call('GET', '/readyz', { token: null });
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: 'not ready', database: true, listen: false });
    h.ready.listen = true;
    h.ready.database = false;
    expect((await h.call('GET', '/readyz', { token: null })).status).toBe(503);
    h.ready.database = true;
  });

  it('GET /readyz is 503 when the readiness check itself throws', async () => {
    const original = h.deps.ready;
    h.deps.ready = async () => {
      throw new Error('boom');
    };
    const r = await h.call('GET', '/readyz', { token: null });
    h.deps.ready = original;
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: 'not ready', database: false, listen: false });
  });

  it('GET /metrics serves the Prometheus text', async () => {
    const r = await h.call('GET', '/metrics', { token: null });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(r.text).toContain('up 1');
  });
});

describe('error envelope', () => {
  it('unknown route and wrong method: 404 NOT_FOUND envelope', async () => {
    expectEnvelope(await h.call('GET', '/nope'), 404, 'NOT_FOUND');
    expectEnvelope(await h.call('PUT', '/api/v1/partner/api-keys', { orgId }), 404, 'NOT_FOUND');
  });

  it('an unexpected failure is 500 INTERNAL_SERVER_ERROR, logged without leaking details to the client', async () => {
    const original = h.deps.metrics;
    h.deps.metrics = async () => {
      throw new Error('secret internal detail');
    };
    const r = await h.call('GET', '/metrics', { token: null });
    h.deps.metrics = original;
    expectEnvelope(r, 500, 'INTERNAL_SERVER_ERROR');
    expect(r.text).not.toContain('secret internal detail');
    expect(h.logs.some((l) => l.includes('secret internal detail') && l.includes('admin request failed'))).toBe(true);
  });

  it('malformed JSON is 400 VALIDATION_ERROR', async () => {
    const r = await h.call('POST', '/api/v1/partner/api-keys', { orgId, rawBody: '{"name": ', headers: { 'content-type': 'application/json' } });
    expectEnvelope(r, 400, 'VALIDATION_ERROR');
    expect(r.body.details.issues[0].code).toBe('invalid_json');
  });

  it('an empty body where one is required is 400 VALIDATION_ERROR', async () => {
    expectEnvelope(await h.call('POST', '/api/v1/partner/api-keys', { orgId }), 400, 'VALIDATION_ERROR');
  });

  it('a body of 64 KiB + 1 byte is 413 PAYLOAD_TOO_LARGE, with and without Content-Length', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES) }).slice(0, MAX_BODY_BYTES + 1);
    expect(Buffer.byteLength(big)).toBe(MAX_BODY_BYTES + 1);
    const streamed = await h.call('POST', '/api/v1/partner/api-keys', { orgId, rawBody: big });
    expectEnvelope(streamed, 413, 'PAYLOAD_TOO_LARGE');
    const declared = await h.call('POST', '/api/v1/partner/api-keys', {
      orgId,
      rawBody: big,
      headers: { 'content-length': String(MAX_BODY_BYTES + 1) },
    });
    expectEnvelope(declared, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a body of exactly 64 KiB is read (and then validated)', async () => {
    const body = JSON.stringify({ name: 'n', partnerId: 'p', scopes: ['vcp:connect'], pad: '' });
    const padded = body.replace('"pad":""', `"pad":"${'x'.repeat(MAX_BODY_BYTES - Buffer.byteLength(body))}"`);
    expect(Buffer.byteLength(padded)).toBe(MAX_BODY_BYTES);
    const r = await h.call('POST', '/api/v1/partner/api-keys', { orgId, rawBody: padded });
    expectEnvelope(r, 400, 'VALIDATION_ERROR');
    expect(r.body.details.issues[0].code).toBe('unrecognized_keys');
  });
});

describe('whatever a client sends, never a 500', () => {
  const junkBodies = [
    '{"__proto__": {"isAdmin": true}}',
    '{"constructor": {"prototype": {}}}',
    '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    '{"name": 1e400, "partnerId": -0, "scopes": [null]}',
    '{"name": "\\ud800", "partnerId": "\\udfff", "scopes": ["vcp:connect"]}',
    '{"name": "n", "partnerId": "p", "scopes": ["vcp:connect"], "allowedIps": [null, 1, {}], "allowedPlantIds": "x"}',
    '{"name": "n", "partnerId": "p", "scopes": ["vcp:connect"], "expiresAt": "9999-12-31T23:59:59Z"}',
    '{"name": "n", "partnerId": "p", "scopes": ["vcp:connect"], "expiresAt": "2024-02-30T00:00:00Z"}',
    '{"key": ""}',
    '{"key": null}',
    '{"slug": "x", "name": "\\u0000"}',
    'null',
    'true',
    '"\\u0000"',
    '\u0000',
    '{"a":',
  ];
  const ids = ['%00', '..%2F..', 'x'.repeat(2000), '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'];

  it('junk bodies, ids, queries and headers on every route get an envelope (or success), never a 500', async () => {
    const statuses: number[] = [];
    for (const route of ADMIN_ROUTES) {
      const paths = route.path.includes('{id}') ? ids.map((id) => route.path.replace('{id}', id)) : [route.path];
      for (const path of paths) {
        for (const rawBody of route.method === 'get' ? [undefined] : junkBodies) {
          for (const query of ['', '?page=99999999999999999999&limit=-1', '?type=%00&apiKeyId=%FF']) {
            for (const org of [orgId, 'ÿ'.repeat(40)]) {
              const r = await h.call(route.method.toUpperCase(), `${path}${query}`, { orgId: org, rawBody, headers: { 'content-type': 'application/json' } });
              statuses.push(r.status);
              expect(r.status, `${route.method} ${path}${query} ${rawBody}`).toBeLessThan(500);
              if (r.status >= 400 && path !== '/readyz') expect(Object.keys(r.body).sort()).toEqual(['code', 'details', 'error', 'message', 'statusCode']);
            }
          }
        }
      }
    }
    expect(statuses.length).toBeGreaterThan(500);
  }, 60_000);
});

describe('OpenAPI document', () => {
  let doc: any;
  beforeAll(async () => {
    const r = await h.call('GET', '/openapi.json', { token: null });
    expect(r.status).toBe(200);
    doc = r.body;
  });

  it('is OpenAPI 3.1 and lists every route the app serves', () => {
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${p}`));
    const served = ADMIN_ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(documented.sort()).toEqual(served.sort());
    expect(documented).toEqual(
      expect.arrayContaining([
        'POST /api/v1/admin/organizations',
        'GET /api/v1/admin/organizations',
        'POST /api/v1/partner/api-keys',
        'GET /api/v1/partner/api-keys',
        'GET /api/v1/partner/api-keys/{id}',
        'DELETE /api/v1/partner/api-keys/{id}',
        'POST /api/v1/partner/api-keys/{id}/test-connection',
        'POST /api/v1/partner/api-keys/{id}/acknowledge',
        'GET /api/v1/partner/audit-events',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /openapi.json',
      ]),
    );
  });

  it('the mint request schema is the one validation uses', async () => {
    const schema = doc.paths['/api/v1/partner/api-keys'].post.requestBody.content['application/json'].schema;
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required.sort()).toEqual(['name', 'partnerId', 'scopes']);
    const scopes: string[] = schema.properties.scopes.items.enum;
    expect(scopes).toHaveLength(18);
    expect([...scopes].sort()).toEqual([...API_KEY_SCOPES].sort());
    expect(schema.properties.scopes.minItems).toBe(1);
    expect(schema.properties.name).toMatchObject({ minLength: 1, maxLength: 100 });
    // Every documented scope is accepted, anything else is not.
    const ok = await h.mint(orgId, { scopes });
    expect(ok.status).toBe(201);
    expectEnvelope(await h.mint(orgId, { scopes: ['vcp:admin'] }), 400, 'VALIDATION_ERROR');
  });

  it('documents the envelope for every error and the x-org-id header on partner routes', () => {
    const op = doc.paths['/api/v1/partner/api-keys/{id}'].delete;
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '403', '404', '500']);
    expect(op.responses['404'].description).toContain('API_KEY_NOT_FOUND');
    expect(op.responses['404'].content['application/json'].schema.$ref).toBe('#/components/schemas/ErrorEnvelope');
    expect(op.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['id', 'x-org-id']);
    expect(doc.paths['/api/v1/partner/api-keys'].post.responses['413']).toBeDefined();
    expect(doc.paths['/readyz'].get.responses['503']).toBeDefined();
    const pageParam = doc.paths['/api/v1/partner/api-keys'].get.parameters.find((p: { name: string }) => p.name === 'limit');
    expect(pageParam.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, default: 20 });
    expect(doc.components.schemas.ErrorEnvelope.properties.code.enum).toContain('BROKER_SELF_TEST_FAILED');
  });
});

describe('in a real HTTP listener', () => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      const server = serve({ fetch: h.app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
        base = `http://127.0.0.1:${info.port}`;
        resolve();
      });
      close = () => new Promise((r) => server.close(() => r()));
    });
  });
  afterAll(async () => {
    await close();
  });

  it('mints over HTTP and records the TCP peer address and user agent in the audit log', async () => {
    const res = await fetch(`${base}/api/v1/partner/api-keys`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.adminToken}`,
        'x-org-id': orgId,
        'content-type': 'application/json',
        'user-agent': 'voke-test/1.0',
        'x-forwarded-for': '203.0.113.9',
      },
      body: JSON.stringify({ name: 'over http', partnerId: 'p', scopes: ['vcp:connect'] }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { apiKey } = (await res.json()) as { apiKey: { id: string } };
    const [event] = await h.db.sql<{ ip: string; userAgent: string }[]>`
      SELECT ip, user_agent FROM audit_events WHERE api_key_id = ${apiKey.id} AND type = 'api_key.created'`;
    expect(event).toEqual({ ip: '127.0.0.1', userAgent: 'voke-test/1.0' });
  });

  it('answers 413 for a declared oversized body over HTTP', async () => {
    const res = await fetch(`${base}/api/v1/partner/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminToken}`, 'x-org-id': orgId, 'content-type': 'application/json' },
      body: 'x'.repeat(MAX_BODY_BYTES + 1),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
  });
});
