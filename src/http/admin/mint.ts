// Minting a partner key (DESIGN §5, §7): generate, store the hash (and the encrypted signing
// key), audit, all in one transaction; then, with a broker, provision the key's vhost and
// log in as the partner. If the broker part fails, everything is undone and no secret leaves.
import { randomUUID } from 'node:crypto';
import { probeSourceAddresses } from '../../broker/probe.js';
import { connectionValues, partnerVhost } from '../../broker/topology.js';
import { displayPrefix, generateApiKey } from '../../keys/format.js';
import { encryptSigningKey, generateSigningKey } from '../../keys/signing.js';
import { createKey, deleteKey, PROBE_WINDOW_MS, withProbeWindow, type Actor } from '../../keys/lifecycle.js';
import { keyUsable, UNUSABLE_MESSAGES } from '../../keys/usable.js';
import { toKeyRecord, type KeyRecord } from '../../policy/key.js';
import { hasConnectScope, hasWriteScope } from '../../policy/scopes.js';
import type { NewApiKey } from '../../store/api-keys.js';
import type { OrganizationView } from '../../store/rows.js';
import type { AdminDeps } from './deps.js';
import { ApiError, invalidField } from './errors.js';
import type { CreateApiKeyInput, MintResult } from './schemas.js';
import { errorForLog } from '../../secrets.js';


export interface MintRequest {
  org: OrganizationView;
  /** Who mints, as the audit row records them (actorOf); `actor.user.id` is the key's created_by. */
  actor: Actor;
  input: CreateApiKeyInput;
}

export async function mintApiKey(deps: AdminDeps, req: MintRequest): Promise<MintResult> {
  const { org, actor, input } = req;
  if (input.expiresAt !== null && input.expiresAt.getTime() <= deps.now().getTime()) {
    throw invalidField('body.expiresAt', 'must be in the future');
  }
  const id = randomUUID();
  // A key without a connect scope cannot open AMQP: no vhost, no self-test (REST-only key).
  const amqp = hasConnectScope(input.scopes);
  const vhost = amqp ? partnerVhost(id) : null;
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
    return { key, signingKey, apiKey, connection: { selfTest: { status: 'not_applicable' } } };
  }
  const selfTest = await runSelfTest(deps, { id, vhost, slug: org.slug, key, record: toKeyRecord({ ...newKey, orgSlug: org.slug, isActive: true, legacyScopeExpansion: false, connected: false }) });
  deps.log.info({ apiKeyId: id, organizationId: org.id, selfTest: selfTest.status }, 'api key minted');
  const values = connectionValues({ host: deps.config.publicAmqpHost, port: deps.config.publicAmqpPort, slug: org.slug, vhost, password: key });
  return { key, signingKey, apiKey, connection: { ...values, selfTest } };
}

type SelfTestResult = { status: 'skipped' } | { status: 'passed'; durationMs: number };

interface SelfTestTarget {
  id: string;
  vhost: string;
  slug: string;
  key: string;
  /** The new key as the hot path will see it. */
  record: KeyRecord;
}

async function runSelfTest(deps: AdminDeps, t: SelfTestTarget): Promise<SelfTestResult> {
  const broker = deps.broker;
  const amqpUrl = deps.config.rabbitmqAmqpUrl;
  if (broker === undefined || amqpUrl === undefined) return { status: 'skipped' };
  let stage: 'provision' | 'probe' = 'provision';
  try {
    await broker.provisionKeyVhost({ vhost: t.vhost, slug: t.slug });
    stage = 'probe';
    // The probe logs in from this host, which the key's allowlist need not admit: it runs in the
    // key's probe window (keys/lifecycle.ts), open for this host's own addresses only.
    const ips = await probeSourceAddresses(amqpUrl);
    const result = await withProbeWindow({ sql: deps.sql, now: deps.now, onChange: () => deps.evictKey?.(t.id) }, t.id, ips, (timeoutMs) =>
      broker.probe({ amqpUrl, username: t.slug, password: t.key, vhost: t.vhost, slug: t.slug, canPublish: t.record.canPublish, timeoutMs }),
    );
    if (result.ok) return { status: 'passed', durationMs: Math.max(0, Math.round(result.durationMs)) };
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

