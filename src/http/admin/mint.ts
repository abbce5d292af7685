// Minting a partner key (DESIGN §5, §7): generate, store the hash (and the encrypted signing
// key), audit, all in one transaction; then, with a broker, provision the key's vhost and
// log in as the partner. If the broker part fails, everything is undone and no secret leaves.
import { randomUUID } from 'node:crypto';
import type { JSONValue } from 'postgres';
import { partnerQueues, partnerVhost } from '../../broker/topology.js';
import { displayPrefix, generateApiKey } from '../../keys/format.js';
import { encryptSigningKey, generateSigningKey } from '../../keys/signing.js';
import { hasWriteScope } from '../../policy/scopes.js';
import { deleteApiKey, getApiKey, insertApiKey } from '../../store/api-keys.js';
import { deleteAuditEventsOfKey, insertAuditEvent } from '../../store/audit.js';
import type { OrganizationView } from '../../store/rows.js';
import { upsertUser } from '../../store/users.js';
import { actorUser, type Principal } from './auth.js';
import type { AdminDeps } from './deps.js';
import { ApiError, invalidField } from './errors.js';
import type { RequestMeta } from './request.js';
import type { ConnectionBundle, CreateApiKeyInput, MintResult } from './schemas.js';
import { errorForLog } from '../../secrets.js';

export const SELF_TEST_TIMEOUT_MS = 10_000;

export interface MintRequest {
  org: OrganizationView;
  actor: Principal;
  input: CreateApiKeyInput;
  meta: RequestMeta;
}

export async function mintApiKey(deps: AdminDeps, req: MintRequest): Promise<MintResult> {
  const { org, actor, input, meta } = req;
  if (input.expiresAt !== null && input.expiresAt.getTime() <= deps.now().getTime()) {
    throw invalidField('body.expiresAt', 'must be in the future');
  }
  const id = randomUUID();
  const vhost = partnerVhost(id);
  const key = generateApiKey();
  const signingKey = hasWriteScope(input.scopes) ? generateSigningKey() : null;

  const apiKey = await deps.sql.begin(async (tx) => {
    await upsertUser(tx, actorUser(actor));
    await insertApiKey(tx, {
      id,
      organizationId: org.id,
      keyHash: deps.hasher.current(key),
      keyPrefix: displayPrefix(key),
      name: input.name,
      partnerId: input.partnerId,
      scopes: input.scopes,
      allowedIps: input.allowedIps,
      allowedPlantIds: input.allowedPlantIds,
      vhost,
      expiresAt: input.expiresAt,
      signingKeyEnc: signingKey === null ? null : encryptSigningKey(signingKey, deps.config.signingKeyEncryptionKey),
      createdBy: actor.userId,
    });
    const details: Record<string, JSONValue> = {
      name: input.name,
      partnerId: input.partnerId,
      keyPrefix: displayPrefix(key),
      scopes: input.scopes,
      vhost,
      signingKey: signingKey !== null,
    };
    await insertAuditEvent(tx, {
      type: 'api_key.created',
      organizationId: org.id,
      apiKeyId: id,
      actorId: actor.userId,
      ...meta,
      details,
    });
    return (await getApiKey(tx, org.id, id))!;
  });

  const selfTest = await runSelfTest(deps, { id, vhost, slug: org.slug, key });
  deps.log.info({ apiKeyId: id, organizationId: org.id, selfTest: selfTest.status }, 'api key minted');
  return { key, signingKey, apiKey, connection: connectionBundle(deps, org.slug, key, vhost, selfTest) };
}

interface SelfTestTarget {
  id: string;
  vhost: string;
  slug: string;
  key: string;
}

async function runSelfTest(deps: AdminDeps, t: SelfTestTarget): Promise<ConnectionBundle['selfTest']> {
  const broker = deps.broker;
  const amqpUrl = deps.config.rabbitmqAmqpUrl;
  if (broker === undefined || amqpUrl === undefined) return { status: 'skipped' };
  let stage: 'provision' | 'probe' = 'provision';
  try {
    // Open the self-test window (migrations/003): the probe logs in from our address, not the
    // partner's, and is not the partner's first connection. Closed again once the probe passed.
    await deps.sql`UPDATE api_keys SET self_test_until = now() + interval '30 seconds' WHERE id = ${t.id}`;
    await broker.provisionKeyVhost({ vhost: t.vhost, slug: t.slug });
    stage = 'probe';
    const result = await broker.probe({
      amqpUrl,
      username: t.slug,
      password: t.key,
      vhost: t.vhost,
      slug: t.slug,
      timeoutMs: SELF_TEST_TIMEOUT_MS,
    });
    if (result.ok) {
      await deps.sql`UPDATE api_keys SET self_test_until = now() WHERE id = ${t.id}`;
      deps.evictKey?.(t.id);
      return { status: 'passed', durationMs: Math.max(0, Math.round(result.durationMs)) };
    }
    throw new Error(result.error);
  } catch (err) {
    const reason = errorForLog(err, [t.key]).message;
    deps.log.warn({ apiKeyId: t.id, stage, reason }, 'broker self-test failed; undoing the mint');
    await undoMint(deps, t);
    throw new ApiError(
      'BROKER_SELF_TEST_FAILED',
      stage === 'provision'
        ? 'Provisioning the broker vhost failed; no key was created. Try again or contact the operators.'
        : 'The broker refused the new key during the self-test; no key was created. Try again or contact the operators.',
      { stage },
    );
  }
}

/** Best effort, each step on its own: the vhost, the key row, and the audit rows of the key. */
async function undoMint(deps: AdminDeps, t: SelfTestTarget): Promise<void> {
  try {
    await deps.broker?.deprovisionVhost(t.vhost, 'mint self-test failed');
  } catch (err) {
    deps.log.error({ apiKeyId: t.id, vhost: t.vhost, reason: errorForLog(err, [t.key]).message }, 'undo: deprovisioning the vhost failed (the reconciler will retry)');
  }
  try {
    await deps.sql.begin(async (tx) => {
      await deleteApiKey(tx, t.id);
      await deleteAuditEventsOfKey(tx, t.id);
    });
  } catch (err) {
    deps.log.error({ apiKeyId: t.id, reason: errorForLog(err, [t.key]).message }, 'undo: deleting the key failed; revoke it by hand');
  }
}

function connectionBundle(deps: AdminDeps, slug: string, key: string, vhost: string, selfTest: ConnectionBundle['selfTest']): ConnectionBundle {
  const host = deps.config.publicAmqpHost;
  const port = deps.config.publicAmqpPort;
  const hostInUri = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const queues = Object.fromEntries(partnerQueues(slug).map((q) => [q.kind, q.name])) as ConnectionBundle['queues'];
  return {
    uri: `amqps://${encodeURIComponent(slug)}:${encodeURIComponent(key)}@${hostInUri}:${port}/${encodeURIComponent(vhost)}`,
    host,
    port,
    username: slug,
    vhost,
    queues,
    selfTest,
  };
}
