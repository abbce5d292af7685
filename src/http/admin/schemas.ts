// Request and response schemas of the admin API. Requests are strict (unknown fields are
// rejected); @hono/zod-openapi validates with these objects and generates the document from them.
// (`z` from @hono/zod-openapi is zod itself, with `.openapi()` added.)
import { z } from '@hono/zod-openapi';
import { MAX_PASSWORD_BYTES } from '../../keys/format.js';
import { isValidCidr } from '../../policy/cidr.js';
import { API_KEY_SCOPES } from '../../policy/scopes.js';
import { AUDIT_EVENT_TYPES } from '../../store/audit.js';
import type { ApiKeyView, AuditEventView, OrganizationView, UserView } from '../../store/rows.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';

export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const MAX_ALLOWED_IPS = 100;
export const MAX_ALLOWED_PLANT_IDS = 1000;
/** Longest pasted key test-connection accepts: what the hot path would still hash. */
const MAX_PASTED_KEY_BYTES = MAX_PASSWORD_BYTES;

/** Any 8-4-4-4-12 hex UUID, as PostgreSQL's uuid type accepts (not only RFC 4122 versions). */
export const uuid = () => z.guid();
const dateTime = () => z.iso.datetime({ offset: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/**
 * Stored text: no control characters (PostgreSQL text cannot hold NUL) and well-formed
 * UTF-16 (a lone surrogate cannot be stored in jsonb, e.g. the audit details).
 */
export const text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be valid Unicode');

function dedupe<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** A bare address becomes /32 or /128, so the stored list is CIDRs only. */
export function normaliseCidr(text: string): string {
  if (text.includes('/')) return text;
  return text.includes(':') ? `${text}/128` : `${text}/32`;
}

// ---------- requests ----------

/** The allowlist as the mint and PATCH take it: CIDRs or bare addresses, up to MAX_ALLOWED_IPS. */
const allowedIpList = z
  .array(z.string().max(64).refine(isValidCidr, 'must be an IPv4/IPv6 address or CIDR range').describe('IPv4/IPv6 CIDR (10.20.30.0/24) or bare address'))
  .max(MAX_ALLOWED_IPS)
  .nullable()
  .optional();

/** Stored as CIDRs (a bare address becomes /32 or /128), deduplicated; null = no restriction = []. */
const storedAllowlist = (ips: readonly string[] | null) => dedupe((ips ?? []).map(normaliseCidr));

export const CreateOrganizationBody = z.strictObject({
  slug: z.string().regex(SLUG_PATTERN, 'slug must match ^[a-z0-9][a-z0-9-]{0,62}$'),
  name: text(1, 100),
});

export const CreateApiKeyBody = z.strictObject({
  name: text(1, 100).describe('Human-readable name for the key'),
  partnerId: text(1, 100).describe('External partner identifier'),
  scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).describe('Permission scopes (duplicates are removed)').transform(dedupe),
  allowedIps: allowedIpList
    .describe('CIDR allowlist; a bare address means /32 or /128. Empty/omitted = no IP restriction.')
    .transform((ips) => storedAllowlist(ips ?? null)),
  allowedPlantIds: z
    .array(uuid())
    .max(MAX_ALLOWED_PLANT_IDS)
    .nullable()
    .optional()
    .describe('Restrict the key to these plant UUIDs; null/omitted = all plants of the organization')
    .transform((ids) => (ids == null ? null : dedupe(ids.map((id) => id.toLowerCase())))),
  expiresAt: dateTime()
    // A valid offset can push a year-9999 time past what PostgreSQL's timestamptz stores.
    .refine((t) => new Date(t).getUTCFullYear() <= 9999, 'must be before the year 10000 (UTC)')
    .nullable()
    .optional()
    .describe('Expiry (ISO 8601 date-time with offset), must be in the future; null/omitted = never')
    .transform((t) => (t == null ? null : new Date(t))),
});
export type CreateApiKeyInput = z.output<typeof CreateApiKeyBody>;

/**
 * PATCH: only the name and the allowlist can change (mint's validation); scopes, expiry and the
 * rest are immutable (mint a new key), so any other field is a 400. At least one field.
 */
export const UpdateApiKeyBody = z
  .strictObject({
    name: text(1, 100).optional().describe('Human-readable name for the key'),
    allowedIps: allowedIpList
      .describe('The new allowlist, replacing the old one; [] or null = no IP restriction. Connections from addresses it no longer admits are closed.')
      .transform((ips) => (ips === undefined ? undefined : storedAllowlist(ips))),
  })
  .refine((b) => b.name !== undefined || b.allowedIps !== undefined, { message: 'give name and/or allowedIps' });
export type UpdateApiKeyInput = z.output<typeof UpdateApiKeyBody>;

export const TestConnectionBody = z.strictObject({
  key: z
    .string()
    .min(1)
    .refine((k) => Buffer.byteLength(k, 'utf8') <= MAX_PASTED_KEY_BYTES, `at most ${MAX_PASTED_KEY_BYTES} bytes`)
    .describe('The plaintext API key to probe with (never stored or logged)'),
});

/** The longest overlap a rotation may leave the previous secret valid: 7 days. */
export const MAX_OVERLAP_SECONDS = 604_800;
export const DEFAULT_OVERLAP_SECONDS = 86_400;

/** POST /api-keys/{id}/rotate; no body at all means the defaults. */
export const RotateApiKeyBody = z
  .strictObject({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_OVERLAP_SECONDS)
      .optional()
      .describe('How long the previous secret stays valid, 0 to 604800 s (default 86400: 24 h). 0 = emergency: refused at once, its connections closed'),
  })
  .optional();

/** The verify API's refusal codes, in the order its checks run. */
export const VERIFY_CODES = ['NOT_FOUND', 'REVOKED', 'EXPIRED', 'IP_NOT_ALLOWED', 'INSUFFICIENT_SCOPE', 'PLANT_NOT_ALLOWED'] as const;

export const VerifyKeyBody = z.strictObject({
  key: z
    .string()
    .min(1)
    .refine((k) => Buffer.byteLength(k, 'utf8') <= MAX_PASTED_KEY_BYTES, `at most ${MAX_PASTED_KEY_BYTES} bytes`)
    .describe('The plaintext API key the client presented (never stored, logged or echoed)'),
  ip: z
    .string()
    .max(64)
    .refine((ip) => !ip.includes('/') && isValidCidr(ip), 'must be an IPv4 or IPv6 address')
    .optional()
    .describe("The client's address, checked against the key's allowedIps. Omitted: a key with an allowlist is refused (IP_NOT_ALLOWED)."),
  scopes: z
    .array(z.enum(API_KEY_SCOPES))
    .max(API_KEY_SCOPES.length)
    .optional()
    .describe("Scopes the request needs; all must be among the key's stored scopes (no legacy expansion)"),
  plantId: uuid().optional().describe("The plant the request addresses, checked against the key's allowedPlantIds"),
});

/** POST without a body; an empty JSON object is accepted too. */
export const EmptyBody = z.strictObject({}).optional();

const MAX_PAGE = 1_000_000;
/** Query values are strings on the wire; documented as what they mean (an integer range). */
const positiveInt = (max: number, fallback: number, description: string) =>
  z
    .string()
    .regex(/^[0-9]{1,9}$/, 'must be a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .optional()
    .default(fallback)
    .describe(description)
    .openapi({ type: 'integer', minimum: 1, maximum: max, default: fallback });

export const PageQuery = z.strictObject({
  page: positiveInt(MAX_PAGE, 1, 'Page number (1-indexed)'),
  limit: positiveInt(100, 20, 'Items per page (1–100)'),
});

/** The `{id}` of /api-keys/{id}/…: any UUID, lower-cased (INVALID_UUID otherwise). */
export const ApiKeyIdParam = z.object({ id: uuid().toLowerCase().describe('API key id') });

export const AuditEventsQuery = z.strictObject({
  ...PageQuery.shape,
  type: z.enum(AUDIT_EVENT_TYPES).optional().describe('Only events of this type'),
  apiKeyId: uuid().optional().describe('Only events of this API key'),
});

// ---------- super-admin key routes (/api/v1/admin/api-keys…) ----------

/** A key prefix as stored and shown (`voke_a1b2`); short, so a whole key never fits in one. */
export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,12}$/;
const keyPrefix = () => z.string().regex(KEY_PREFIX_PATTERN, 'must be 1 to 12 characters of A-Z a-z 0-9 _ - (a key prefix, not a key)');

export const AdminApiKeysQuery = z.strictObject({
  ...PageQuery.shape,
  id: uuid().toLowerCase().optional().describe('Only the key with this id'),
  prefix: keyPrefix().optional().describe('Only keys whose keyPrefix starts with this (e.g. voke_a1b2)'),
  partnerId: text(1, 100).optional().describe('Only keys with this partnerId'),
  organizationId: uuid().toLowerCase().optional().describe('Only keys of this organization'),
  isActive: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true: not revoked (expired keys included); false: revoked'),
});

export const MAX_LEAKED_KEYS = 1000;
/** Issue texts never quote a rejected key: fixed messages only. */
export const RevokeLeakedBody = z.strictObject(
  {
    keys: z
      .array(
        z
          .string({ error: 'must be a string' })
          .min(1, 'must not be empty')
          .refine((k) => Buffer.byteLength(k, 'utf8') <= MAX_PASSWORD_BYTES, `at most ${MAX_PASSWORD_BYTES} bytes`),
        { error: 'must be an array of keys' },
      )
      .min(1, 'give at least one key')
      .max(MAX_LEAKED_KEYS, `at most ${MAX_LEAKED_KEYS} keys per call`)
      .describe('Plaintext keys found leaked (never stored, logged or echoed)'),
  },
  // The default message quotes the unknown field's name, which could be a key.
  { error: (issue) => (issue.code === 'unrecognized_keys' ? 'unknown field (only "keys" is accepted)' : undefined) },
);

export const MAX_IMPORTED_KEYS = 1000;
export const ImportedApiKey = z.strictObject({
  keySha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters: the SHA-256 of the key')
    .transform((h) => h.toLowerCase())
    .describe('Hex SHA-256 of the key (UTF-8), as the legacy platform stored it'),
  organizationSlug: z.string().regex(SLUG_PATTERN, 'must be an organization slug').describe('The organization the key belongs to'),
  keyPrefix: keyPrefix().optional().describe('The prefix the legacy platform showed for the key; default legacy_ + the first 5 characters of the new id'),
  name: CreateApiKeyBody.shape.name,
  partnerId: CreateApiKeyBody.shape.partnerId,
  scopes: CreateApiKeyBody.shape.scopes,
  allowedIps: CreateApiKeyBody.shape.allowedIps,
  allowedPlantIds: CreateApiKeyBody.shape.allowedPlantIds,
  expiresAt: CreateApiKeyBody.shape.expiresAt,
  createdAt: dateTime()
    .refine((t) => new Date(t).getUTCFullYear() >= 1970, 'must be after 1970')
    .optional()
    .describe('When the legacy platform created the key; default now')
    .transform((t) => (t == null ? undefined : new Date(t))),
});
export const ImportApiKeysBody = z.strictObject({
  keys: z
    .array(ImportedApiKey)
    .min(1)
    .max(MAX_IMPORTED_KEYS)
    .superRefine((keys, ctx) => {
      const seen = new Set<string>();
      keys.forEach((k, i) => {
        if (seen.has(k.keySha256)) ctx.addIssue({ code: 'custom', path: [i, 'keySha256'], message: 'the same keySha256 appears twice' });
        seen.add(k.keySha256);
      });
    }),
});

// ---------- responses ----------

export const Organization = z.object({ id: uuid(), slug: z.string(), name: z.string(), createdAt: dateTime() });

export const Creator = z.object({
  id: uuid(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  role: z.string(),
  createdAt: dateTime(),
  updatedAt: dateTime(),
});

export const ApiKey = z.object({
  id: uuid(),
  keyPrefix: z.string(),
  name: z.string(),
  partnerId: z.string(),
  scopes: z.array(z.string()),
  allowedIps: z.array(z.string()),
  vhost: z.string().nullable(),
  isActive: z.boolean(),
  expiresAt: dateTime().nullable(),
  lastUsedAt: dateTime().nullable(),
  createdBy: uuid().nullable(),
  organizationId: uuid(),
  createdAt: dateTime(),
  updatedAt: dateTime(),
  creator: Creator.nullable(),
  previousKeyPrefix: z
    .string()
    .nullable()
    .describe('During a rotation overlap: the prefix of the replaced secret, still valid until previousKeyExpiresAt; else null'),
  previousKeyExpiresAt: dateTime().nullable().describe('During a rotation overlap: when the replaced secret stops working; else null'),
  rotatedAt: dateTime().nullable().describe('When the current secret was created by a rotation; null for a key never rotated'),
});

const QueueType = z.enum(['classic', 'quorum']);

export const SelfTest = z.object({
  status: z.enum(['skipped', 'passed']),
  durationMs: z.number().int().min(0).optional(),
  queueType: QueueType.optional().describe('The type of the six queues provisioned (BROKER_QUEUE_TYPE); quorum queues are replicated across the cluster'),
});

const ConnectionValues = z.object({
  uri: z.string().describe('amqps://<slug>:<url-encoded key>@<host>:<port>/<vhost>'),
  host: z.string(),
  port: z.number().int(),
  username: z.string(),
  vhost: z.string(),
  queues: z.object({
    telemetry: z.string(),
    alarm: z.string(),
    status: z.string(),
    command: z.string(),
    schedule: z.string(),
    config: z.string(),
  }),
});

/** A key that can open AMQP (vcp:connect): its connection values and the self-test result. */
export const AmqpConnection = ConnectionValues.extend({ selfTest: SelfTest });

/** A REST-only key (no vcp:connect): no vhost, no AMQP values, no self-test. */
export const RestOnlyConnection = z.object({
  selfTest: z.object({ status: z.literal('not_applicable') }).describe('The key cannot open AMQP connections; nothing to test'),
});

export const Connection = z.union([AmqpConnection, RestOnlyConnection]);

/** The key detail's connection values: the URI carries <API_KEY> where the key goes. null for a REST-only key. */
export const KeyConnection = ConnectionValues.extend({
  uri: z.string().describe('amqps://<slug>:<API_KEY>@<host>:<port>/<vhost>: put the URL-encoded key where <API_KEY> is'),
  queueType: QueueType.nullable().describe('The type of the key\'s queues as provisioned; null: no vhost of its own (legacy "/") or none provisioned'),
}).nullable();

/** GET and PATCH /api-keys/{id}: the key and how to connect with it (never the key itself). */
export const ApiKeyDetail = ApiKey.extend({ connection: KeyConnection });

/** The mint's answer: the only response that ever holds the key. */
export const CreateApiKeyResponse = z.object({
  key: z.string().describe('The plaintext API key; shown once'),
  signingKey: z.string().nullable().describe('HMAC signing key (64 hex chars), only with a vcp:write:* scope; else null'),
  apiKey: ApiKey,
  connection: Connection,
});

/** The rotation's answer: like the mint's, the only time the new secret is shown. */
export const RotateApiKeyResponse = z.object({
  key: z.string().describe('The new plaintext API key; shown once'),
  apiKey: ApiKey,
  connection: ConnectionValues.nullable().describe('How to connect with the new key (the URI carries it); null for a REST-only key'),
  previousKeyExpiresAt: dateTime().describe('When the replaced secret stops working (now, for overlapSeconds 0)'),
});

export type ConnectionBundle = z.output<typeof Connection>;
export type MintResult = z.output<typeof CreateApiKeyResponse>;

export const Message = z.object({ message: z.string() });

export const TestConnectionResponse = z.object({
  ok: z.boolean(),
  durationMs: z.number().int().min(0).optional(),
  error: z.string().optional(),
});

/** A key named without its secret or hash: what the leaked-key revocation reports. */
export const VerifyKeyResponse = z
  .union([
    z.object({
      valid: z.literal(true),
      keyId: uuid(),
      organizationId: uuid(),
      partnerId: z.string(),
      scopes: z.array(z.string()).describe('The scopes as stored'),
      allowedPlantIds: z.array(uuid()).nullable().describe('null: every plant of the organization'),
      expiresAt: dateTime().nullable(),
    }),
    z.object({ valid: z.literal(false), code: z.enum(VERIFY_CODES) }),
  ])
  .openapi('VerifyKeyResult');

export const KeyRef = z.object({ id: uuid(), keyPrefix: z.string(), organizationId: uuid() });
export const RevokeLeakedResponse = z.object({
  revoked: z.array(KeyRef).describe('Revoked by this call'),
  alreadyRevoked: z.array(KeyRef).describe('Were revoked before; unchanged'),
  unknown: z.number().int().min(0).describe('How many of the keys given are not keys of this service'),
});
export const ImportedKeyRef = KeyRef.extend({ name: z.string() });
export const ImportApiKeysResponse = z.object({
  imported: z.array(ImportedKeyRef).describe('Stored by this call'),
  existing: z.array(ImportedKeyRef).describe('Imported (or stored) before under the same SHA-256; unchanged'),
});

export const AuditEvent = z.object({
  id: uuid(),
  type: z.string(),
  organizationId: uuid().nullable(),
  apiKeyId: uuid().nullable(),
  actorId: uuid().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  createdAt: dateTime(),
});

export const PageMeta = z.object({
  limit: z.number().int(),
  page: z.number().int(),
  total: z.number().int(),
  totalPages: z.number().int(),
});

export const pageOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), meta: PageMeta });

export const ErrorEnvelope = z
  .object({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    details: z.record(z.string(), z.unknown()),
    error: z.string(),
    message: z.string(),
    statusCode: z.number().int(),
  })
  .openapi('ErrorEnvelope');

export const Health = z.object({ status: z.literal('ok') });
/** Revoked or expired keys whose broker vhost is not deleted yet (details only: readiness does not depend on it). */
export const BrokerDeprovisioning = z.object({
  pending: z.number().int().min(0),
  oldestSince: z.string().datetime().nullable(),
  brokerAuthCacheTtlMs: z.number().int().min(0),
});

/** The broker's nodes as this instance sees them (details only: readiness does not depend on them). */
export const BrokerNodes = z.object({
  queueType: z.enum(['classic', 'quorum']),
  nodes: z.array(
    z.object({
      endpoint: z.string(),
      reachable: z.boolean().nullable(),
      since: z.string().datetime().nullable(),
      error: z.string().optional(),
    }),
  ),
  unreachable: z.number().int().min(0),
  membersDown: z.array(z.string()),
  checkedAt: z.string().datetime().nullable(),
});

export const Readiness = z.object({
  status: z.enum(['ready', 'not ready']),
  database: z.boolean(),
  listen: z.boolean(),
  /** The in-memory key table: how many keys, and since when it may have missed changes (LISTEN down). */
  keyTable: z.object({ keys: z.number().int(), stale: z.boolean(), staleSince: z.string().datetime().nullable() }).optional(),
  brokerDeprovisioning: BrokerDeprovisioning.optional(),
  broker: BrokerNodes.optional(),
});

export const RevokeResult = z.object({
  message: z.string(),
  /**
   * With the broker auth cache (BROKER_AUTH_CACHE_TTL_MS > 0): revokedAt + TTL, when the last
   * answer the broker cached for this key expires (what lags until then: README, "Broker auth
   * cache"). null without the cache.
   */
  cachedAnswersExpireAt: z.string().datetime().nullable(),
});

// The store's views and these schemas must describe the same shapes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const shapesAgree: [
  Same<z.output<typeof ApiKey>, ApiKeyView>,
  Same<z.output<typeof Creator>, UserView>,
  Same<z.output<typeof Organization>, OrganizationView>,
  Same<z.output<typeof AuditEvent>, AuditEventView>,
] = [true, true, true, true];
void shapesAgree;
