// Minting a partner key (DESIGN §5, §7): generate, store the hash (and the encrypted signing
// key), audit, all in one transaction; then, with a broker, provision the key's vhost and
// log in as the partner. If the broker part fails, everything is undone and no secret leaves.
import { randomUUID } from 'node:crypto';
import { partnerQueues, partnerVhost } from '../../broker/topology.js';
import { displayPrefix, generateApiKey } from '../../keys/format.js';
import { encryptSigningKey, generateSigningKey } from '../../keys/signing.js';
import { closeSelfTestWindow, createKey, deleteKey, openSelfTestWindow } from '../../keys/lifecycle.js';
import { keyUsable, UNUSABLE_MESSAGES } from '../../keys/usable.js';
import { toKeyRecord, type KeyRecord } from '../../policy/key.js';
import { hasWriteScope } from '../../policy/scopes.js';
import type { NewApiKey } from '../../store/api-keys.js';
import type { OrganizationView } from '../../store/rows.js';
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

  const newKey: NewApiKey = {
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
  };
  const apiKey = await createKey(deps.sql, { user: actorUser(actor), ...meta }, newKey, {
    name: input.name,
    partnerId: input.partnerId,
    keyPrefix: newKey.keyPrefix,
    scopes: input.scopes,
    vhost,
    signingKey: signingKey !== null,
  });

  const selfTest = await runSelfTest(deps, { id, vhost, slug: org.slug, key, record: toKeyRecord({ ...newKey, orgSlug: org.slug, isActive: true, legacyScopeExpansion: false, connected: false }) });
  deps.log.info({ apiKeyId: id, organizationId: org.id, selfTest: selfTest.status }, 'api key minted');
  return { key, signingKey, apiKey, connection: connectionBundle(deps, org.slug, key, vhost, selfTest) };
}

interface SelfTestTarget {
  id: string;
  vhost: string;
  slug: string;
  key: string;
  /** The new key as the hot path will see it. */
  record: KeyRecord;
}

async function runSelfTest(deps: AdminDeps, t: SelfTestTarget): Promise<ConnectionBundle['selfTest']> {
  const broker = deps.broker;
  const amqpUrl = deps.config.rabbitmqAmqpUrl;
  if (broker === undefined || amqpUrl === undefined) return { status: 'skipped' };
  let stage: 'provision' | 'probe' = 'provision';
  try {
    // Open the self-test window (migrations/003): the probe logs in from our address, not the
    // partner's, and is not the partner's first connection. Closed again once the probe passed.
    await openSelfTestWindow(deps.sql, t.id);
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
      await closeSelfTestWindow(deps.sql, t.id);
      deps.evictKey?.(t.id);
      return { status: 'passed', durationMs: Math.max(0, Math.round(result.durationMs)) };
    }
    // When the hot path's own rule already refuses the key (no connect scope), the log says so.
    const usable = keyUsable(t.record, t.slug, deps.now().getTime());
    throw new Error(usable === 'allow' ? result.error : `${UNUSABLE_MESSAGES[usable]}; broker: ${result.error}`);
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
    await deleteKey(deps.sql, t.id);
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
