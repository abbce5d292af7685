// Bulk rows for the scale benches: `count` active keys under one organization, in one INSERT …
// SELECT generate_series. Hashes are distinct hex strings (no key is ever presented for them);
// scopes and allowlists vary the way real keys do (most share a few scope sets; one in ten has
// an allowlist).
import type { Sql } from '../src/store/db.js';

export async function insertBulkKeys(sql: Sql, count: number, slug = 'bulk'): Promise<void> {
  if (count <= 0) return;
  const [org] = await sql<{ id: string }[]>`INSERT INTO organizations (slug, name) VALUES (${slug}, 'Bulk') RETURNING id`;
  await sql`
    INSERT INTO api_keys (organization_id, key_hash, key_prefix, name, partner_id, scopes, allowed_ips, vhost)
    SELECT ${org!.id}, encode(sha256(('bulk-' || i)::bytea), 'hex'), 'voke_bulk', 'bulk key ' || i, 'bulk',
           CASE i % 3 WHEN 0 THEN ARRAY['vcp:connect']
                      WHEN 1 THEN ARRAY['vcp:connect', 'vcp:write:setpoint', 'vcp:write:mode']
                      ELSE ARRAY['vcp:connect', 'vcp:write:schedule'] END,
           CASE WHEN i % 10 = 0 THEN ARRAY['203.0.113.' || (i % 250) || '/32'] ELSE ARRAY[]::text[] END,
           'partner-' || gen_random_uuid()
    FROM generate_series(1, ${count}) AS i`;
}
