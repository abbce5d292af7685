// An admin app on a fresh database, with captured logs, a fake broker when asked, and
// helpers to call it like a client would.
import { randomBytes, randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type Config, loadConfig } from '../../src/config/index.js';
import { createAdminApp } from '../../src/http/admin/app.js';
import type { AdminBroker, AdminDeps, BrokerProbeArgs, BrokerProbeResult } from '../../src/http/admin/deps.js';
import { KeyHasher } from '../../src/keys/hash.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export class FakeBroker implements AdminBroker {
  readonly calls: string[] = [];
  readonly probes: BrokerProbeArgs[] = [];
  failProvision: Error | undefined;
  probeResult: BrokerProbeResult = { ok: true, durationMs: 12 };
  failDeprovision: Error | undefined;

  async provisionKeyVhost(input: { vhost: string; slug: string }): Promise<void> {
    this.calls.push(`provision ${input.vhost} ${input.slug}`);
    if (this.failProvision) throw this.failProvision;
  }

  async deprovisionVhost(vhost: string): Promise<void> {
    this.calls.push(`deprovision ${vhost}`);
    if (this.failDeprovision) throw this.failDeprovision;
  }

  enforceAllowlist(vhost: string, allowedIps: readonly string[]): void {
    this.calls.push(`enforce ${vhost} ${allowedIps.join(',')}`);
  }

  async probe(args: BrokerProbeArgs): Promise<BrokerProbeResult> {
    this.calls.push(`probe ${args.vhost} ${args.username}`);
    this.probes.push(args);
    return this.probeResult;
  }

  /** Forget the calls and failures of the previous test. */
  reset(): void {
    this.calls.length = 0;
    this.probes.length = 0;
    this.failProvision = undefined;
    this.failDeprovision = undefined;
    this.probeResult = { ok: true, durationMs: 12 };
  }
}

export interface CallOptions {
  token?: string | null;
  orgId?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

export interface AdminHarness {
  db: TestDatabase;
  deps: AdminDeps;
  config: Config;
  app: ReturnType<typeof createAdminApp>;
  logs: string[];
  adminToken: string;
  broker: FakeBroker | undefined;
  ready: { database: boolean; listen: boolean };
  call(method: string, path: string, opts?: CallOptions): Promise<CallResult>;
  jwt(claims: Record<string, unknown>): Promise<string>;
  orgAdminToken(orgId: string, extra?: Record<string, unknown>): Promise<string>;
  createOrg(slug?: string): Promise<{ id: string; slug: string }>;
  mint(orgId: string, body?: Record<string, unknown>): Promise<CallResult>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  broker?: FakeBroker;
  now?: () => Date;
  /** Extra environment for loadConfig (e.g. BROKER_AUTH_CACHE_TTL_MS). */
  env?: Record<string, string>;
}

export async function createAdminHarness(opts: HarnessOptions = {}): Promise<AdminHarness> {
  const db = await createTestDatabase();
  const adminToken = `vadm_${randomBytes(24).toString('base64url')}`;
  const jwtSecret = randomBytes(32).toString('base64url');
  const { config } = loadConfig({
    DATABASE_URL: db.url,
    API_KEY_PEPPER: randomBytes(32).toString('base64url'),
    SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ADMIN_TOKENS: `other-token-${randomBytes(8).toString('hex')},${adminToken}`,
    JWT_SECRET: jwtSecret,
    PUBLIC_AMQP_HOST: 'amqp.example.test',
    PUBLIC_AMQP_PORT: '5671',
    ...(opts.broker ? { RABBITMQ_MANAGEMENT_URL: 'http://voke-admin:secret@127.0.0.1:15672' } : {}),
    ...opts.env,
  });
  const logs: string[] = [];
  const log = pino({ level: 'trace' }, { write: (line: string) => void logs.push(line) });
  const ready = { database: true, listen: true };
  const deps: AdminDeps = {
    sql: db.sql,
    config,
    log,
    hasher: new KeyHasher(config.peppers),
    now: opts.now ?? (() => new Date()),
    ...(opts.broker ? { broker: opts.broker } : {}),
    ready: async () => ({ ...ready }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP up 1\nup 1\n' }),
  };
  const app = createAdminApp(deps);

  const call = async (method: string, path: string, o: CallOptions = {}): Promise<CallResult> => {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? adminToken : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (o.orgId) headers['x-org-id'] = o.orgId;
    let body: string | undefined = o.rawBody;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };

  const jwt = (claims: Record<string, unknown>) => sign({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims }, jwtSecret, 'HS256');

  let orgs = 0;
  return {
    db,
    deps,
    config,
    app,
    logs,
    adminToken,
    broker: opts.broker,
    ready,
    call,
    jwt,
    orgAdminToken: (orgId, extra = {}) => jwt({ sub: randomUUID(), email: 'admin@example.test', name: 'Org Admin', role: 'ORG_ADMIN', orgId, ...extra }),
    async createOrg(slug = `org-${randomBytes(4).toString('hex')}-${++orgs}`) {
      const r = await call('POST', '/api/v1/admin/organizations', { body: { slug, name: `Org ${slug}` } });
      if (r.status !== 201) throw new Error(`createOrg: ${r.status} ${r.text}`);
      return { id: r.body.id as string, slug };
    },
    mint: (orgId, body = {}) =>
      call('POST', '/api/v1/partner/api-keys', {
        orgId,
        body: { name: 'ESM integration key', partnerId: 'my-esm-platform', scopes: ['vcp:connect'], ...body },
      }),
    close: () => db.drop(),
  };
}

/** The fields of an API key as the admin API shows it (never a secret). */
export const API_KEY_FIELDS = [
  'allowedIps',
  'createdAt',
  'createdBy',
  'creator',
  'expiresAt',
  'id',
  'isActive',
  'keyPrefix',
  'lastUsedAt',
  'name',
  'organizationId',
  'partnerId',
  'previousKeyExpiresAt',
  'previousKeyPrefix',
  'rotatedAt',
  'scopes',
  'updatedAt',
  'vhost',
];

/** A harness without a broker and two organizations: `org` to work in, `other` to be refused. */
export async function harnessWithTwoOrgs(): Promise<{ h: AdminHarness; org: Org; other: Org }> {
  const h = await createAdminHarness();
  return { h, org: await h.createOrg(), other: await h.createOrg() };
}

export type Org = { id: string; slug: string };

/** The rows of api_keys and audit_events: a refused call must leave both unchanged. */
export async function countRows(db: TestDatabase): Promise<{ keys: number; audit: number }> {
  const [k] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys`;
  const [a] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_events`;
  return { keys: k!.n, audit: a!.n };
}

export interface FakeBrokerSetup {
  h: AdminHarness;
  broker: FakeBroker;
  org: Org;
  /** The harness's clock (ms); back to Date.now() before each test, a test may move it. */
  clock: number;
}

/**
 * For a "with a broker" describe block: registers the hooks that open a harness on a fresh
 * database with a FakeBroker and one organization (closed after the block), and reset the fake
 * broker and the clock before each test. The returned object is filled in by beforeAll.
 */
export function withFakeBroker(): FakeBrokerSetup {
  const setup = { clock: Date.now() } as FakeBrokerSetup;
  beforeAll(async () => {
    setup.broker = new FakeBroker();
    setup.h = await createAdminHarness({ broker: setup.broker, now: () => new Date(setup.clock) });
    setup.org = await setup.h.createOrg();
  });
  afterAll(async () => {
    await setup.h.close();
  });
  beforeEach(() => {
    setup.broker.reset();
    setup.clock = Date.now();
  });
  return setup;
}

/** The envelope every error answers with. */
export function expectEnvelope(r: CallResult, status: number, code: string): void {
  if (r.status !== status || r.body?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${r.status} ${r.text}`);
  }
  const keys = Object.keys(r.body).sort();
  if (keys.join(',') !== 'code,details,error,message,statusCode') throw new Error(`envelope keys: ${keys.join(',')}`);
  if (r.body.statusCode !== status) throw new Error(`statusCode ${r.body.statusCode} != ${status}`);
  if (typeof r.body.message !== 'string' || typeof r.body.error !== 'string' || typeof r.body.details !== 'object') {
    throw new Error(`envelope types: ${r.text}`);
  }
}

export interface GuardedRoute {
  method: string;
  path: string;
  access: 'org' | 'super-admin';
  /** A valid body, so that only the guard can refuse the call. */
  body?: unknown;
}

/**
 * The security cases every guarded route shares, each answered before the route does anything:
 * no token, an unknown token, a token in the wrong scheme: 401; a role that may not call it:
 * 403; partner routes: another org's ORG_ADMIN 403, missing x-org-id 400, unknown org 404.
 * Returns the rows of api_keys and audit_events before and after, which must be equal.
 */
export async function expectGuarded(h: AdminHarness, route: GuardedRoute, orgId: string): Promise<void> {
  const counts = () => countRows(h.db);
  const before = await counts();
  const call = (opts: CallOptions) => h.call(route.method, route.path, { body: route.body, orgId, ...opts });
  for (const token of [null, 'not-a-token', `${h.adminToken}x`]) expectEnvelope(await call({ token }), 401, 'UNAUTHORIZED');
  const basic = await call({ token: null, headers: { authorization: `Basic ${Buffer.from(`u:${h.adminToken}`).toString('base64')}` } });
  expectEnvelope(basic, 401, 'UNAUTHORIZED');
  expectEnvelope(await call({ token: await h.jwt({ sub: randomUUID(), role: 'VIEWER', orgId }) }), 403, 'FORBIDDEN');
  if (route.access === 'super-admin') {
    expectEnvelope(await call({ token: await h.orgAdminToken(orgId) }), 403, 'FORBIDDEN');
  } else {
    expectEnvelope(await call({ token: await h.orgAdminToken(randomUUID()) }), 403, 'FORBIDDEN');
    expectEnvelope(await call({ orgId: null }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await call({ orgId: randomUUID() }), 404, 'ORGANIZATION_NOT_FOUND');
  }
  if (JSON.stringify(await counts()) !== JSON.stringify(before)) throw new Error(`${route.method} ${route.path}: a refused call changed the database`);
}
