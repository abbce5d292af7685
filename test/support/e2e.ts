// The stack every broker end-to-end test starts: a fresh database, a private RabbitMQ node whose
// auth_http calls reach the real service (through an auth relay bound on port 0 before the broker
// boots, pointed at the service's auth listener once it listens), and one organization, "acme".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuthRelay,
  type BrokerVersion,
  generateAuthTlsCerts,
  type StartBrokerOptions,
  type StartedBroker,
  startAuthRelay,
  startBroker,
} from './broker.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { type AdminAnswer, adminCaller, startTestService } from './service.js';

export interface BrokerStackOptions {
  version: BrokerVersion;
  tls?: boolean;
  authCache?: StartBrokerOptions['authCache'];
  /**
   * HTTPS between the broker and the auth listener: throwaway certificates (generateAuthTlsCerts)
   * in `BrokerStack.authTlsDir`, the broker booted from deploy/broker-tls, the service given
   * AUTH_TLS_CERT, AUTH_TLS_KEY and AUTH_TLS_CA.
   */
  authTls?: boolean;
  /** Extra service environment, decided once the broker runs (e.g. a management URL through a proxy). */
  env?: (broker: StartedBroker) => Promise<Record<string, string>> | Record<string, string>;
}

export interface BrokerStack {
  db: TestDatabase;
  relay: AuthRelay;
  broker: StartedBroker;
  service: Awaited<ReturnType<typeof startTestService>>;
  /** With authTls: the folder of the certificates (ca.pem, broker.pem, stranger.pem, …). */
  authTlsDir?: string;
  /** The id of the organization "acme". */
  orgId: string;
  /** One admin API call with the test admin token (and x-org-id when `org` is given). */
  admin(method: string, path: string, body?: unknown, org?: string): Promise<AdminAnswer>;
  /** Stops what was started, service first. */
  stop(): Promise<void>;
}

/**
 * Starts the stack. The service gets the broker's management and AMQP URLs (and, with tls, the
 * public AMQPS host and port), a 250 ms reconcile interval, then `opts.env`. If a step fails,
 * what was already started is stopped before the error is thrown.
 */
export async function startBrokerStack(opts: BrokerStackOptions): Promise<BrokerStack> {
  const started: Partial<BrokerStack> = {};
  const stop = async () => {
    await started.service?.stop();
    await started.broker?.stop();
    await started.relay?.close();
    await started.db?.drop();
    if (started.authTlsDir) rmSync(started.authTlsDir, { recursive: true, force: true });
  };
  try {
    const db = await createTestDatabase();
    started.db = db;
    const relay = await startAuthRelay();
    started.relay = relay;
    let authTls: StartBrokerOptions['authTls'];
    let authTlsEnv: Record<string, string> = {};
    if (opts.authTls) {
      const dir = mkdtempSync(join(tmpdir(), 'voke-auth-tls-'));
      started.authTlsDir = dir;
      generateAuthTlsCerts(dir);
      authTls = { ca: join(dir, 'ca.pem'), cert: join(dir, 'broker.pem'), key: join(dir, 'broker-key.pem') };
      authTlsEnv = { AUTH_TLS_CERT: join(dir, 'voke-auth.pem'), AUTH_TLS_KEY: join(dir, 'voke-auth-key.pem'), AUTH_TLS_CA: join(dir, 'ca.pem') };
    }
    const broker = await startBroker({ authBaseUrl: relay.url, version: opts.version, tls: opts.tls, authCache: opts.authCache, authTls });
    started.broker = broker;
    const service = (started.service = await startTestService(db.url, {
      reconcileIntervalMs: 250,
      env: {
        RABBITMQ_MANAGEMENT_URL: broker.managementUrl,
        RABBITMQ_AMQP_URL: broker.amqpUrl,
        ...(broker.amqpsUrl ? { PUBLIC_AMQP_HOST: 'localhost', PUBLIC_AMQP_PORT: new URL(broker.amqpsUrl).port } : {}),
        ...authTlsEnv,
        ...(await opts.env?.(broker)),
      },
    }));
    relay.target(service.authUrl);
    const admin = adminCaller(service.adminUrl);
    const org = await admin('POST', '/api/v1/admin/organizations', { slug: 'acme', name: 'ACME' });
    if (org.status !== 201) throw new Error(`create org acme: ${org.status} ${JSON.stringify(org.json)}`);
    return { db, relay, broker, service, authTlsDir: started.authTlsDir, orgId: org.json.id as string, admin, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
