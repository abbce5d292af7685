// What the hot path learns and the database should know, written in batches off the hot path:
// last use of each key, the first login of a key (partner.connected, once), refused broker
// logins (partner.connection_refused) and refused REST requests (partner.request_refused), both
// aggregated per organization/key, reason and time window: a flood writes one row per bucket.
import type { Sql } from './db.js';

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Distinct refusal buckets held between flushes; beyond it they fold into one "overflow" bucket. */
const MAX_REFUSAL_BUCKETS = 5_000;

export interface UsageOptions {
  flushIntervalMs?: number;
  /** Length of a partner.connection_refused aggregation window. */
  refusalWindowMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

type RefusalType = 'partner.connection_refused' | 'partner.request_refused';

interface RefusalBucket {
  type: RefusalType;
  /** The organization named by the username (broker), resolved to an id at flush. */
  slug: string | null;
  /** The organization known from the key (REST). */
  organizationId: string | null;
  keyId: string | null;
  reason: string;
  count: number;
}

export class UsageRecorder {
  private lastUsed = new Map<string, number>();
  /** Key id → time of its latest login in this batch. */
  private firstLogins = new Map<string, number>();
  private readonly announced = new Set<string>();
  private refusals = new Map<string, RefusalBucket>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly sql: Sql,
    private readonly options: UsageOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 5_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  keyUsed(id: string, at: number): void {
    this.lastUsed.set(id, at);
  }

  /**
   * A successful broker login; the first one of a key becomes a partner.connected event.
   * Logins up to the key's `probe_until` are the service's own probes (migrations/006) and do not count.
   */
  loggedIn(id: string, everConnected: boolean, at: number): void {
    if (!everConnected && !this.announced.has(id)) this.firstLogins.set(id, at);
  }

  /** A refused login or vhost. `username` is kept only if it names an organization. */
  refused(username: string, keyId: string | null, reason: string): void {
    const slug = SLUG.test(username) ? username : null;
    this.count('partner.connection_refused', `c|${slug}|${keyId}|${reason}`, slug, null, keyId, reason);
  }

  /** A refused REST request (forward auth or verify); the organization and key when a key was found. */
  requestRefused(organizationId: string | null, keyId: string | null, reason: string): void {
    this.count('partner.request_refused', `r|${organizationId}|${keyId}|${reason}`, null, organizationId, keyId, reason);
  }

  private count(type: RefusalType, bucketKey: string, slug: string | null, organizationId: string | null, keyId: string | null, reason: string): void {
    let bucket = this.refusals.get(bucketKey);
    if (bucket === undefined && this.refusals.size >= MAX_REFUSAL_BUCKETS) {
      bucketKey = `overflow|${type}`;
      bucket = this.refusals.get(bucketKey);
      if (bucket === undefined) {
        bucket = { type, slug: null, organizationId: null, keyId: null, reason: 'overflow', count: 0 };
        this.refusals.set(bucketKey, bucket);
      }
    }
    if (bucket === undefined) {
      bucket = { type, slug, organizationId, keyId, reason, count: 0 };
      this.refusals.set(bucketKey, bucket);
    }
    bucket.count++;
  }

  /** Writes what has gathered; on failure it is kept for the next flush. Never concurrent. */
  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const lastUsed = this.lastUsed;
    const firstLogins = this.firstLogins;
    const refusals = this.refusals;
    this.lastUsed = new Map();
    this.firstLogins = new Map();
    this.refusals = new Map();
    try {
      if (lastUsed.size > 0) await this.writeLastUsed(lastUsed);
      if (firstLogins.size > 0) await this.writeFirstLogins(firstLogins);
      if (refusals.size > 0) await this.writeRefusals([...refusals.values()]);
    } catch (err) {
      this.options.onError?.(err);
      for (const [id, at] of lastUsed) if ((this.lastUsed.get(id) ?? 0) < at) this.lastUsed.set(id, at);
      for (const [id, at] of firstLogins) this.firstLogins.set(id, Math.max(at, this.firstLogins.get(id) ?? 0));
      for (const [k, b] of refusals) {
        const current = this.refusals.get(k);
        if (current) current.count += b.count;
        else if (this.refusals.size < MAX_REFUSAL_BUCKETS || k.startsWith('overflow|')) this.refusals.set(k, b);
      }
    }
  }

  private async writeLastUsed(entries: Map<string, number>): Promise<void> {
    const ids = [...entries.keys()];
    const times = [...entries.values()].map((t) => new Date(t).toISOString());
    // Forward only: a late flush from another instance never moves last_used_at back.
    await this.sql`
      UPDATE api_keys k SET last_used_at = v.at
      FROM (SELECT unnest(${ids}::uuid[]) AS id, unnest(${times}::timestamptz[]) AS at) v
      WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)`;
  }

  private async writeFirstLogins(logins: Map<string, number>): Promise<void> {
    const ids = [...logins.keys()];
    const times = [...logins.values()].map((t) => new Date(t).toISOString());
    // connected_at IS NULL makes this once per key across every instance.
    const written = await this.sql<{ id: string }[]>`
      WITH first AS (
        UPDATE api_keys k SET connected_at = now()
        FROM (SELECT unnest(${ids}::uuid[]) AS id, unnest(${times}::timestamptz[]) AS at) v
        WHERE k.id = v.id AND k.connected_at IS NULL AND (k.probe_until IS NULL OR v.at > k.probe_until)
        RETURNING k.id, k.organization_id, k.vhost
      ), audit AS (
        INSERT INTO audit_events (type, organization_id, api_key_id, details)
        SELECT 'partner.connected', organization_id, id, jsonb_build_object('vhost', coalesce(vhost, '/')) FROM first
      )
      SELECT id FROM first
      UNION SELECT id FROM api_keys WHERE id = ANY(${ids}::uuid[]) AND connected_at IS NOT NULL`;
    for (const { id } of written) this.announced.add(id);
  }

  private async writeRefusals(buckets: RefusalBucket[]): Promise<void> {
    const windowMs = this.options.refusalWindowMs ?? 60_000;
    const windowStart = new Date(Math.floor(this.now() / windowMs) * windowMs).toISOString();
    const slugs = [...new Set(buckets.map((b) => b.slug).filter((s): s is string => s !== null))];
    const orgs = slugs.length ? await this.sql<{ id: string; slug: string }[]>`SELECT id, slug FROM organizations WHERE slug = ANY(${slugs})` : [];
    const orgBySlug = new Map(orgs.map((o) => [o.slug, o.id]));
    const rows = buckets.map((b) => {
      const orgId = b.organizationId ?? ((b.slug !== null && orgBySlug.get(b.slug)) || null);
      // The prefix keeps the two event types' aggregates apart.
      const prefix = b.type === 'partner.connection_refused' ? 'refused' : 'request-refused';
      return {
        type: b.type,
        organization_id: orgId,
        api_key_id: b.keyId,
        details: { reason: b.reason, count: b.count, windowStart, windowSeconds: windowMs / 1000 },
        aggregate_key: `${prefix}:${orgId ?? 'none'}:${b.keyId ?? 'none'}:${b.reason}:${windowStart}`,
      };
    });
    // Several buckets can share an aggregate key (unknown slugs fold into "none"): merge first.
    const merged = new Map<string, (typeof rows)[number]>();
    for (const r of rows) {
      const m = merged.get(r.aggregate_key);
      if (m) m.details.count += r.details.count;
      else merged.set(r.aggregate_key, r);
    }
    const batch = [...merged.values()];
    // One statement for the whole batch (its aggregate keys are distinct after the merge above).
    await this.sql`
      INSERT INTO audit_events (type, organization_id, api_key_id, details, aggregate_key)
      SELECT v.type, o.id, v.api_key_id, v.details::jsonb, v.aggregate_key
      FROM unnest(${batch.map((r) => r.type)}::text[], ${batch.map((r) => r.organization_id)}::uuid[], ${batch.map((r) => r.api_key_id)}::uuid[],
                  ${batch.map((r) => JSON.stringify(r.details))}::text[], ${batch.map((r) => r.aggregate_key)}::text[])
        AS v(type, organization_id, api_key_id, details, aggregate_key)
        -- An organization deleted since the refusal: the row is kept without it.
        LEFT JOIN organizations o ON o.id = v.organization_id
      ON CONFLICT (aggregate_key) DO UPDATE SET details = jsonb_set(
        audit_events.details, '{count}',
        to_jsonb((audit_events.details->>'count')::bigint + (EXCLUDED.details->>'count')::bigint))`;
  }
}
