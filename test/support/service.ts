import { Writable } from 'node:stream';
import { type Config, loadConfig } from '../../src/config/index.js';
import { createLogger, type Logger } from '../../src/log.js';
import { type RunningService, type ServiceOptions, startService } from '../../src/service.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { tempDir } from './temp.js';

export const TEST_PEPPER = 'test-pepper-current';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    API_KEY_PEPPER: TEST_PEPPER,
    SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    ADMIN_TOKENS: TEST_ADMIN_TOKEN,
    JWT_SECRET: 'test-jwt-secret',
    AUTH_PORT: '0',
    ADMIN_PORT: '0',
    DATA_DIR: tempDir('voke-auth-test-'),
    LOG_LEVEL: 'debug',
    ...env,
  }).config;
}

/** A logger whose JSON lines are kept in memory, so tests can scan them for secrets. */
export function memoryLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger(level, stream), lines };
}

export async function startTestService(databaseUrl: string, over: Partial<ServiceOptions> & { env?: Record<string, string> } = {}) {
  const { log, lines } = memoryLogger();
  const service: RunningService = await startService({
    config: testConfig(over.env),
    log,
    databaseUrl,
    usageFlushMs: 200,
    listenRetryMs: 200,
    ...over,
  });
  return Object.assign(service, { logLines: lines });
}

/** A metric's value summed over the series whose labels match `labels` (all series when empty). */
export async function metricSum(service: RunningService, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await service.metrics.registry.getSingleMetric(name)!.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

/** One broker call, as rabbitmq_auth_backend_http makes it (POST form by default). */
export async function askAuth(baseUrl: string, path: string, fields: Record<string, string>, method: 'POST' | 'GET' = 'POST') {
  const form = new URLSearchParams(fields).toString();
  const res =
    method === 'GET'
      ? await fetch(`${baseUrl}/auth/${path}?${form}`)
      : await fetch(`${baseUrl}/auth/${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

export interface AdminAnswer {
  status: number;
  json: any;
}

/** Calls a running service's admin API with the test admin token (and x-org-id when orgId is given). */
export function adminCaller(adminUrl: string | undefined) {
  return async (method: string, path: string, body?: unknown, orgId?: string): Promise<AdminAnswer> => {
    if (adminUrl === undefined) throw new Error('the service runs no admin listener');
    const res = await fetch(adminUrl + path, {
      method,
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', ...(orgId ? { 'x-org-id': orgId } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  };
}

export interface TwoInstances {
  db: TestDatabase;
  one: Awaited<ReturnType<typeof startTestService>>;
  two: Awaited<ReturnType<typeof startTestService>>;
  /** The admin API of instance one. */
  admin: ReturnType<typeof adminCaller>;
  /** Stops both instances, then drops the database. */
  stop(): Promise<void>;
}

/** Two running instances of the service on one fresh database (two replicas, told apart by NOTIFY only). */
export async function startTwoInstances(): Promise<TwoInstances> {
  const started: Partial<TwoInstances> = {};
  const stop = async () => {
    await started.one?.stop();
    await started.two?.stop();
    await started.db?.drop();
  };
  try {
    const db = await createTestDatabase();
    started.db = db;
    const one = await startTestService(db.url);
    started.one = one;
    const two = await startTestService(db.url);
    started.two = two;
    return { db, one, two, admin: adminCaller(one.adminUrl), stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
