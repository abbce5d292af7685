// The stack every broker end-to-end test starts: a fresh database, a private RabbitMQ node whose
// auth_http calls reach the real service (through an auth relay bound on port 0 before the broker
// boots, pointed at the service's auth listener once it listens), and one organization, "acme".
import { createTestDatabase, type TestDatabase } from './db.js';
import { startAuthRelay, startBroker, type AuthRelay, type BrokerVersion, type StartBrokerOptions, type StartedBroker } from './broker.js';
import { adminCaller, type AdminAnswer, startTestService } from './service.js';

export interface BrokerStackOptions {
  version: BrokerVersion;
  tls?: boolean;
  authCache?: StartBrokerOptions['authCache'];
  /** Extra service environment, decided once the broker runs (e.g. a management URL through a proxy). */
  env?: (broker: StartedBroker) => Promise<Record<string, string>> | Record<string, string>;
}

export interface BrokerStack {
  db: TestDatabase;
  relay: AuthRelay;
  broker: StartedBroker;
  service: Awaited<ReturnType<typeof startTestService>>;
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
  };
  try {
    const db = (started.db = await createTestDatabase());
    const relay = (started.relay = await startAuthRelay());
    const broker = (started.broker = await startBroker({ authBaseUrl: relay.url, version: opts.version, tls: opts.tls, authCache: opts.authCache }));
    const service = (started.service = await startTestService(db.url, {
      reconcileIntervalMs: 250,
      env: {
        RABBITMQ_MANAGEMENT_URL: broker.managementUrl,
        RABBITMQ_AMQP_URL: broker.amqpUrl,
        ...(broker.amqpsUrl ? { PUBLIC_AMQP_HOST: 'localhost', PUBLIC_AMQP_PORT: new URL(broker.amqpsUrl).port } : {}),
        ...(await opts.env?.(broker)),
      },
    }));
    relay.target(service.authUrl);
    const admin = adminCaller(service.adminUrl);
    const org = await admin('POST', '/api/v1/admin/organizations', { slug: 'acme', name: 'ACME' });
    if (org.status !== 201) throw new Error(`create org acme: ${org.status} ${JSON.stringify(org.json)}`);
    return { db, relay, broker, service, orgId: org.json.id as string, admin, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
