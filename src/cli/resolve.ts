// From what an operator types (a key id, or a key prefix such as voke_a1b2) to exactly one key.

import { type ApiKey, type Ctx, keyStatus, orgBySlug, slugOf } from './context.js';
import { CliFailure, UsageError } from './errors.js';
import { table } from './table.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A key prefix is 9 characters (voke_ + 4); a little slack for legacy prefixes. Anything longer
// may be a whole key: refused without being echoed, and pointed at --leaked.
const PREFIX = /^[A-Za-z0-9_-]{1,12}$/;

export type KeyRef = { kind: 'id'; id: string } | { kind: 'prefix'; prefix: string };

export function parseKeyRef(ref: string): KeyRef {
  if (UUID.test(ref)) return { kind: 'id', id: ref.toLowerCase() };
  if (PREFIX.test(ref)) return { kind: 'prefix', prefix: ref };
  throw new UsageError(
    'a key is named by its id (UUID) or its key prefix (e.g. voke_a1b2, at most 12 characters); ' +
      'to revoke a key you hold in full, pipe it to `voke-auth keys revoke --leaked`',
  );
}

export interface KeySearch {
  id?: string;
  prefix?: string;
  partnerId?: string;
  organizationId?: string;
  isActive?: boolean;
}

/** Keys across organizations, filtered by the server (admin search route, every page). */
export function searchKeys(ctx: Ctx, q: KeySearch): Promise<ApiKey[]> {
  return ctx.client.all<ApiKey>('/api/v1/admin/api-keys', { query: { ...q } });
}

/** Exactly one key, or a failure that names the candidates (and nothing was changed). */
export async function resolveKey(ctx: Ctx, raw: string, orgSlug: string | undefined): Promise<ApiKey> {
  const ref = parseKeyRef(raw);
  const org = orgSlug === undefined ? undefined : await orgBySlug(ctx, orgSlug);
  const where = org ? ` in organization "${org.slug}"` : '';
  const inOrg = org ? { organizationId: org.id } : {};
  if (ref.kind === 'id') {
    const [key] = await searchKeys(ctx, { id: ref.id, ...inOrg });
    if (key === undefined) throw new CliFailure(`not found: no API key with id ${ref.id}${where}`);
    return key;
  }
  const candidates = await searchKeys(ctx, { prefix: ref.prefix, ...inOrg });
  if (candidates.length === 0) throw new CliFailure(`not found: no API key with prefix ${ref.prefix}${where}`);
  if (candidates.length > 1) {
    const rows = await Promise.all(candidates.map(async (k) => [k.id, k.keyPrefix, await slugOf(ctx, k.organizationId), k.name, keyStatus(k)]));
    throw new CliFailure(
      `ambiguous: prefix ${ref.prefix} matches ${candidates.length} keys; nothing was changed. Name the key by its id:`,
      table(['ID', 'PREFIX', 'ORG', 'NAME', 'STATUS'], rows).trimEnd().split('\n'),
    );
  }
  return candidates[0]!;
}
