import type { Queryable } from './queryable.js';
import { shown, type UserRow, type UserView } from './rows.js';

export interface UserInput {
  id: string;
  email: string | null;
  name: string | null;
  role: string;
  /** Kept only when that organization exists (users.organization_id is a foreign key). */
  organizationId: string | null;
}

/** Creates or refreshes the row of whoever acts through the admin API (a key's `creator`). */
export async function upsertUser(sql: Queryable, u: UserInput): Promise<UserView> {
  const [row] = await sql<UserRow[]>`
    INSERT INTO users (id, email, name, role, organization_id)
    VALUES (${u.id}, ${u.email}, ${u.name}, ${u.role},
            (SELECT id FROM organizations WHERE id = ${u.organizationId}::uuid))
    ON CONFLICT (id) DO UPDATE SET
      email = EXCLUDED.email, name = EXCLUDED.name, role = EXCLUDED.role,
      organization_id = EXCLUDED.organization_id, updated_at = now()
    WHERE (users.email, users.name, users.role, users.organization_id)
          IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.name, EXCLUDED.role, EXCLUDED.organization_id)
    RETURNING id, email, name, role, created_at, updated_at`;
  if (row) return shown(row);
  // Unchanged: ON CONFLICT ... WHERE skipped the update, so nothing was returned.
  const [existing] = await sql<UserRow[]>`SELECT id, email, name, role, created_at, updated_at FROM users WHERE id = ${u.id}`;
  return shown(existing!);
}
