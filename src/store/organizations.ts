import type { Queryable } from './queryable.js';
import { type OrganizationRow, type OrganizationView, type Page, type PageRequest, selectPage, shown } from './rows.js';

/** Inserts an organization; undefined when the slug is taken. */
export async function insertOrganization(sql: Queryable, input: { slug: string; name: string }): Promise<OrganizationView | undefined> {
  const [row] = await sql<OrganizationRow[]>`
    INSERT INTO organizations (slug, name) VALUES (${input.slug}, ${input.name})
    ON CONFLICT (slug) DO NOTHING
    RETURNING id, slug, name, created_at`;
  return row && shown(row);
}

export async function getOrganization(sql: Queryable, id: string): Promise<OrganizationView | undefined> {
  const [row] = await sql<OrganizationRow[]>`SELECT id, slug, name, created_at FROM organizations WHERE id = ${id}`;
  return row && shown(row);
}

/** Newest first. */
export function listOrganizations(sql: Queryable, page: PageRequest): Promise<Page<OrganizationView>> {
  const query = { columns: sql`id, slug, name, created_at`, from: sql`FROM organizations`, orderBy: sql`created_at DESC, id DESC` };
  return selectPage(sql, query, page, shown<OrganizationRow>);
}
