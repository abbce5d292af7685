// What the store hands the admin API: rows arrive camelCase (connect()'s column transform), and
// their timestamps become ISO strings here. Also the one paging helper.
import type { PendingQuery, Row } from 'postgres';
import type { Queryable } from './queryable.js';

/** A row as the admin API shows it: every Date as its ISO 8601 UTC string. */
export type Shown<R> = { [K in keyof R]: R[K] extends Date ? string : R[K] extends Date | null ? string | null : R[K] };

/** Replaces the row's Date values by their ISO strings, in place (the row is fresh from the driver). */
export function shown<R extends object>(row: R): Shown<R> {
  const r = row as Record<string, unknown>;
  for (const k in r) {
    const v = r[k];
    if (v instanceof Date) r[k] = v.toISOString();
  }
  return row as Shown<R>;
}

export interface OrganizationRow {
  id: string;
  slug: string;
  name: string;
  createdAt: Date;
}
export type OrganizationView = Shown<OrganizationRow>;

export interface UserRow {
  id: string;
  email: string | null;
  name: string | null;
  role: string;
  createdAt: Date;
  updatedAt: Date;
}
export type UserView = Shown<UserRow>;

/** An api_keys row as the admin API lists it (`keyColumns` in api-keys.ts), creator columns apart. */
interface KeyRow {
  id: string;
  keyPrefix: string;
  name: string;
  partnerId: string;
  scopes: string[];
  allowedIps: string[];
  vhost: string | null;
  isActive: boolean;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  createdBy: string | null;
  organizationId: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A key row joined with its creator (creator_* columns, null without one). */
export interface ApiKeyRow extends KeyRow {
  creatorId: string | null;
  creatorEmail: string | null;
  creatorName: string | null;
  creatorRole: string | null;
  creatorCreatedAt: Date | null;
  creatorUpdatedAt: Date | null;
}
export type ApiKeyView = Shown<KeyRow> & { creator: UserView | null };

export interface AuditEventRow {
  id: string;
  type: string;
  organizationId: string | null;
  apiKeyId: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
  createdAt: Date;
}
export type AuditEventView = Shown<AuditEventRow>;

/** Nests the creator_* columns as `creator`. */
export function toApiKey(row: ApiKeyRow): ApiKeyView {
  const { creatorId, creatorEmail, creatorName, creatorRole, creatorCreatedAt, creatorUpdatedAt, ...key } = row;
  const creator =
    creatorId === null
      ? null
      : shown<UserRow>({
          id: creatorId,
          email: creatorEmail,
          name: creatorName,
          role: creatorRole ?? '',
          createdAt: creatorCreatedAt ?? key.createdAt,
          updatedAt: creatorUpdatedAt ?? key.createdAt,
        });
  return { ...shown(key), creator };
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
export async function selectPage<R extends object, V>(sql: Queryable, q: PageQuery, p: PageRequest, toView: (row: R) => V): Promise<Page<V>> {
  const rows = await sql<(R & { totalCount?: number })[]>`
    SELECT ${q.columns}, count(*) OVER ()::int AS total_count
    ${q.from}
    ORDER BY ${q.orderBy}
    LIMIT ${p.limit} OFFSET ${(p.page - 1) * p.limit}`;
  let total = rows[0]?.totalCount ?? 0;
  if (rows.length === 0 && p.page > 1) {
    const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n ${q.from}`;
    total = count?.n ?? 0;
  }
  const data = rows.map((row) => {
    delete row.totalCount;
    return toView(row);
  });
  return { data, meta: { limit: p.limit, page: p.page, total, totalPages: Math.ceil(total / p.limit) } };
}
