import type { Queryable } from './queryable.js';
import { offsetOf, toOrganization, type OrganizationRow, type OrganizationView, type PageRequest } from './rows.js';

/** Inserts an organization; undefined when the slug is taken. */
export async function insertOrganization(sql: Queryable, input: { slug: string; name: string }): Promise<OrganizationView | undefined> {
  const [row] = await sql<OrganizationRow[]>`
    INSERT INTO organizations (slug, name) VALUES (${input.slug}, ${input.name})
    ON CONFLICT (slug) DO NOTHING
    RETURNING id, slug, name, created_at`;
  return row && toOrganization(row);
}

export async function getOrganization(sql: Queryable, id: string): Promise<OrganizationView | undefined> {
  const [row] = await sql<OrganizationRow[]>`SELECT id, slug, name, created_at FROM organizations WHERE id = ${id}`;
  return row && toOrganization(row);
}

export async function listOrganizations(sql: Queryable, page: PageRequest): Promise<{ rows: OrganizationView[]; total: number }> {
  const rows = await sql<OrganizationRow[]>`
    SELECT id, slug, name, created_at FROM organizations
    ORDER BY created_at DESC, id DESC
    LIMIT ${page.limit} OFFSET ${offsetOf(page)}`;
  const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM organizations`;
  return { rows: rows.map(toOrganization), total: count?.n ?? 0 };
}
