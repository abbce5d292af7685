// The one place where database rows become the admin API's camelCase shapes (ISO dates), and
// the one paging helper.
import type { PendingQuery, Row } from 'postgres';
import type { Queryable } from './queryable.js';

export interface OrganizationView {
  id: string;
  slug: string;
  name: string;
  createdAt: string;
}

export interface UserView {
  id: string;
  email: string | null;
  name: string | null;
  role: string;
  createdAt: string;
  updatedAt: string;
}

export interface ApiKeyView {
  id: string;
  keyPrefix: string;
  name: string;
  partnerId: string;
  scopes: string[];
  allowedIps: string[];
  vhost: string | null;
  isActive: boolean;
  expiresAt: string | null;
  lastUsedAt: string | null;
  createdBy: string | null;
  organizationId: string;
  createdAt: string;
  updatedAt: string;
  creator: UserView | null;
  /** During a rotation's overlap: the replaced secret's prefix and when it stops working; else null. */
  previousKeyPrefix: string | null;
  previousKeyExpiresAt: string | null;
  /** When the current secret was created by a rotation; null for a key never rotated. */
  rotatedAt: string | null;
}

export interface AuditEventView {
  id: string;
  type: string;
  organizationId: string | null;
  apiKeyId: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
  createdAt: string;
}

export interface OrganizationRow {
  id: string;
  slug: string;
  name: string;
  created_at: Date;
}

export interface UserRow {
  id: string;
  email: string | null;
  name: string | null;
  role: string;
  created_at: Date;
  updated_at: Date;
}

/** An api_keys row joined with its creator (creator_* columns, null without one). */
export interface ApiKeyRow {
  id: string;
  key_prefix: string;
  name: string;
  partner_id: string;
  scopes: string[];
  allowed_ips: string[];
  vhost: string | null;
  is_active: boolean;
  expires_at: Date | null;
  last_used_at: Date | null;
  created_by: string | null;
  organization_id: string;
  created_at: Date;
  updated_at: Date;
  creator_id: string | null;
  creator_email: string | null;
  creator_name: string | null;
  creator_role: string | null;
  creator_created_at: Date | null;
  creator_updated_at: Date | null;
  /** Null outside an overlap (keyColumns). */
  previous_key_prefix: string | null;
  previous_key_expires_at: Date | null;
  rotated_at: Date | null;
}

export interface AuditEventRow {
  id: string;
  type: string;
  organization_id: string | null;
  api_key_id: string | null;
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown> | null;
  created_at: Date;
}

export function iso(d: Date): string {
  return d.toISOString();
}

export function isoOrNull(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

export function toOrganization(r: OrganizationRow): OrganizationView {
  return { id: r.id, slug: r.slug, name: r.name, createdAt: iso(r.created_at) };
}

export function toUser(r: UserRow): UserView {
  return { id: r.id, email: r.email, name: r.name, role: r.role, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at) };
}

export function toApiKey(r: ApiKeyRow): ApiKeyView {
  const creator =
    r.creator_id === null
      ? null
      : toUser({
          id: r.creator_id,
          email: r.creator_email,
          name: r.creator_name,
          role: r.creator_role ?? '',
          created_at: r.creator_created_at ?? r.created_at,
          updated_at: r.creator_updated_at ?? r.created_at,
        });
  return {
    id: r.id,
    keyPrefix: r.key_prefix,
    name: r.name,
    partnerId: r.partner_id,
    scopes: r.scopes,
    allowedIps: r.allowed_ips,
    vhost: r.vhost,
    isActive: r.is_active,
    expiresAt: isoOrNull(r.expires_at),
    lastUsedAt: isoOrNull(r.last_used_at),
    createdBy: r.created_by,
    organizationId: r.organization_id,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    creator,
    previousKeyPrefix: r.previous_key_prefix,
    previousKeyExpiresAt: isoOrNull(r.previous_key_expires_at),
    rotatedAt: isoOrNull(r.rotated_at),
  };
}

export function toAuditEvent(r: AuditEventRow): AuditEventView {
  return {
    id: r.id,
    type: r.type,
    organizationId: r.organization_id,
    apiKeyId: r.api_key_id,
    actorId: r.actor_id,
    ip: r.ip,
    userAgent: r.user_agent,
    details: r.details ?? {},
    createdAt: iso(r.created_at),
  };
}

/** Offset pagination shared by every list route. */
export interface PageRequest {
  page: number;
  limit: number;
}

export interface Page<T> {
  data: T[];
  meta: { limit: number; page: number; total: number; totalPages: number };
}

/** The parts of a list query; `from` holds FROM and WHERE, so the count can reuse it. */
export interface PageQuery {
  columns: PendingQuery<Row[]>;
  from: PendingQuery<Row[]>;
  orderBy: PendingQuery<Row[]>;
}

/**
 * One page and the total in one round trip: `count(*) over ()` is computed before LIMIT, so
 * every row carries the total. A page past the end has no row to carry it: only then a count.
 */
export async function selectPage<R, V>(sql: Queryable, q: PageQuery, p: PageRequest, toView: (row: R) => V): Promise<Page<V>> {
  const rows = await sql<(R & { total_count: number })[]>`
    SELECT ${q.columns}, count(*) OVER ()::int AS total_count
    ${q.from}
    ORDER BY ${q.orderBy}
    LIMIT ${p.limit} OFFSET ${(p.page - 1) * p.limit}`;
  let total = rows[0]?.total_count ?? 0;
  if (rows.length === 0 && p.page > 1) {
    const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n ${q.from}`;
    total = count?.n ?? 0;
  }
  return { data: rows.map(toView), meta: { limit: p.limit, page: p.page, total, totalPages: Math.ceil(total / p.limit) } };
}
