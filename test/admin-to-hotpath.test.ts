// The admin API and the hot path together, as two running instances on one database.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { askAuth, startTwoInstances, type TwoInstances } from './support/service.js';

let instances: TwoInstances;
let one: TwoInstances['one'];
let two: TwoInstances['two'];

beforeAll(async () => {
  instances = await startTwoInstances();
  ({ one, two } = instances);
});
afterAll(async () => {
  await instances?.stop();
});

const admin: TwoInstances['admin'] = (...args) => instances.admin(...args);

it('a key minted through the API authenticates; revoked through the API it is denied in every instance', async () => {
  const org = await admin('POST', '/api/v1/admin/organizations', { slug: 'gridco', name: 'GridCo' });
  expect(org.status).toBe(201);
  const minted = await admin(
    'POST',
    '/api/v1/partner/api-keys',
    { name: 'ESM integration key', partnerId: 'esm', scopes: ['vcp:connect', 'vcp:write:setpoint'], allowedIps: ['127.0.0.1'] },
    org.json.id,
  );
  expect(minted.status).toBe(201);
  const { key, apiKey, connection } = minted.json;
  expect(connection.selfTest).toEqual({ status: 'skipped' });
  expect(connection.uri).toBe(`amqps://gridco:${encodeURIComponent(key)}@amqp.voke.turena.cz:5671/partner-${apiKey.id}`);

  const login = (url: string) => askAuth(url, 'user', { username: 'gridco', password: key }).then((r) => r.body);
  const vhost = (url: string, ip = '127.0.0.1') =>
    askAuth(url, 'vhost', { username: 'gridco', vhost: apiKey.vhost, ip, tags: `vcp-key-${apiKey.id}` }).then((r) => r.body);
  for (const url of [one.authUrl, two.authUrl]) {
    expect(await login(url)).toBe(`allow vcp-key-${apiKey.id}`);
    expect(await vhost(url)).toBe('allow');
    expect(await vhost(url, '10.9.9.9')).toBe('deny');
  }

  const seenByTwo = two.changesApplied();
  const revoked = await admin('DELETE', `/api/v1/partner/api-keys/${apiKey.id}`, undefined, org.json.id);
  expect(revoked.status).toBe(200);
  expect(await login(one.authUrl)).toBe('deny');
  await expect.poll(() => two.changesApplied(), { timeout: 1000, interval: 5 }).toBeGreaterThan(seenByTwo);
  expect(await login(two.authUrl)).toBe('deny');
  expect(await vhost(two.authUrl)).toBe('deny');
});

it('serves health, readiness and metrics on the admin listener', async () => {
  expect((await fetch(`${one.adminUrl}/healthz`)).status).toBe(200);
  expect((await fetch(`${one.authUrl}/healthz`)).status).toBe(200);
  const ready = await fetch(`${one.adminUrl}/readyz`);
  expect(ready.status).toBe(200);
  const metrics = await (await fetch(`${one.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/voke_auth_decisions_total\{path="user",result="allow"\} [1-9]/);
  expect(metrics).toContain('voke_auth_decision_seconds_bucket');
});
