// Minting a partner key: generate, store the hash (and the encrypted signing key), audit, all in
// one transaction; then, with a broker, provision the key's vhost and log in as the partner (the
// self-test). If the broker part fails, everything is undone and no secret leaves.
import { randomUUID } from 'node:crypto';
import { type ConnectionValues, connectionValues, partnerVhost } from '../broker/topology.js';
import { type KeyRecord, toKeyRecord } from '../policy/key.js';
import { hasConnectScope, hasWriteScope } from '../policy/scopes.js';
import { errorForLog } from '../secrets.js';
import type { NewApiKey } from '../store/api-keys.js';
import type { ApiKeyView, OrganizationView } from '../store/rows.js';
import type { KeyDeps } from './deps.js';
import { displayPrefix, generateApiKey } from './format.js';
import { type Actor, createKey, deleteKey } from './lifecycle.js';
import { probeInWindow } from './probe-window.js';
import { encryptSigningKey, generateSigningKey } from './signing.js';
import { keyUsable, UNUSABLE_MESSAGES } from './usable.js';

export interface MintInput {
  name: string;
  partnerId: string;
  scopes: string[];
  allowedIps: string[];
  allowedPlantIds: string[] | null;
  /** In the future (the route checks it against deps.now()). */
  expiresAt: Date | null;
}

export interface MintRequest {
  org: OrganizationView;
  /** Who mints, as the audit row records them (actorOf); `actor.user.id` is the key's created_by. */
  actor: Actor;
  input: MintInput;
}

/** `queueType`: the type of the six queues provisioned (BROKER_QUEUE_TYPE). */
export type SelfTestResult = { status: 'skipped' } | { status: 'passed'; durationMs: number; queueType: 'classic' | 'quorum' };

export interface MintedKey {
  /** The plaintext key: returned once, never stored. */
  key: string;
  signingKey: string | null;
  apiKey: ApiKeyView;
  /** null for a key without a connect scope: no vhost, nothing to connect to or test. */
  amqp: (ConnectionValues & { selfTest: SelfTestResult }) | null;
}

/** The self-test failed at `stage`; the mint was undone (no key row, no vhost, no audit rows). */
export class SelfTestFailed extends Error {
  constructor(readonly stage: 'provision' | 'probe') {
    super(`broker self-test failed at ${stage}`);
  }
}

export async function mintApiKey(deps: KeyDeps, req: MintRequest): Promise<MintedKey> {
  const { org, actor, input } = req;
  const id = randomUUID();
  // A key without a connect scope cannot open AMQP: no vhost, no self-test (REST-only key).
  const vhost = hasConnectScope(input.scopes) ? partnerVhost(id) : null;
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
    createdBy: actor.user.id,
    queueType: vhost !== null && deps.broker !== undefined ? deps.config.brokerQueueType : null,
  };
  const apiKey = await createKey(deps.sql, actor, newKey, {
    name: input.name,
    partnerId: input.partnerId,
    keyPrefix: newKey.keyPrefix,
    scopes: input.scopes,
    vhost,
    signingKey: signingKey !== null,
  });

  if (vhost === null) {
    deps.log.info({ apiKeyId: id, organizationId: org.id, selfTest: 'not_applicable' }, 'api key minted (REST only)');
    return { key, signingKey, apiKey, amqp: null };
  }
  const record = toKeyRecord({ ...newKey, orgSlug: org.slug, isActive: true, legacyScopeExpansion: false, connected: false });
  const selfTest = await runSelfTest(deps, { id, vhost, slug: org.slug, key, record });
  deps.log.info({ apiKeyId: id, organizationId: org.id, selfTest: selfTest.status }, 'api key minted');
  const values = connectionValues({ host: deps.config.publicAmqpHost, port: deps.config.publicAmqpPort, slug: org.slug, vhost, password: key });
  return { key, signingKey, apiKey, amqp: { ...values, selfTest } };
}

interface SelfTestTarget {
  id: string;
  vhost: string;
  slug: string;
  key: string;
  /** The new key as the hot path will see it. */
  record: KeyRecord;
}

async function runSelfTest(deps: KeyDeps, t: SelfTestTarget): Promise<SelfTestResult> {
  const broker = deps.broker;
  const amqpUrl = deps.config.rabbitmqAmqpUrl;
  if (broker === undefined || amqpUrl === undefined) return { status: 'skipped' };
  let stage: 'provision' | 'probe' = 'provision';
  try {
    await broker.provisionKeyVhost({ vhost: t.vhost, slug: t.slug });
    stage = 'probe';
    const result = await probeInWindow(deps, broker, amqpUrl, { keyId: t.id, slug: t.slug, vhost: t.vhost, password: t.key, canPublish: t.record.canPublish });
    if (result.ok) return { status: 'passed', durationMs: Math.max(0, Math.round(result.durationMs)), queueType: deps.config.brokerQueueType };
    // When the hot path's own rule already refuses the key (no connect scope), the log says so.
    const usable = keyUsable(t.record, t.slug, deps.now().getTime());
    throw new Error(usable === 'allow' ? result.error : `${UNUSABLE_MESSAGES[usable]}; broker: ${result.error}`);
  } catch (err) {
    const reason = errorForLog(err, [t.key]).message;
    deps.log.warn({ apiKeyId: t.id, stage, reason }, 'broker self-test failed; undoing the mint');
    await undoMint(deps, t);
    throw new SelfTestFailed(stage);
  }
}

/** Best effort, each step on its own: the vhost, the key row, and the audit rows of the key. */
async function undoMint(deps: KeyDeps, t: SelfTestTarget): Promise<void> {
  try {
    await deps.broker?.deprovisionVhost(t.vhost, 'mint self-test failed');
  } catch (err) {
    deps.log.error(
      { apiKeyId: t.id, vhost: t.vhost, reason: errorForLog(err, [t.key]).message },
      'undo: deprovisioning the vhost failed (the reconciler will retry)',
    );
  }
  try {
    await deleteKey(deps.sql, t.id);
  } catch (err) {
    deps.log.error({ apiKeyId: t.id, reason: errorForLog(err, [t.key]).message }, 'undo: deleting the key failed; revoke it by hand');
  }
}
