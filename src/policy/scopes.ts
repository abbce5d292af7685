/** The ApiKeyScope enum of the product docs: the only scope strings a key may carry. */
export const API_KEY_SCOPES = [
  'plants:read',
  'plants:write',
  'telemetry:read',
  'telemetry:write',
  'commands:read',
  'commands:execute',
  'config:read',
  'config:write',
  'trading:read',
  'trading:write',
  'trading:connect', // legacy alias of vcp:connect, still accepted by the broker auth
  'vcp:connect',
  'vcp:read', // REST read endpoints only; consuming over AMQP needs just vcp:connect
  'vcp:write:setpoint',
  'vcp:write:device-command',
  'vcp:write:schedule',
  'vcp:write:mode',
  'vcp:write:config',
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const CONNECT_SCOPES: readonly string[] = ['vcp:connect', 'trading:connect'];
export const WRITE_SCOPES: readonly string[] = API_KEY_SCOPES.filter((s) => s.startsWith('vcp:write:'));

export function hasConnectScope(scopes: Iterable<string>): boolean {
  for (const s of scopes) if (CONNECT_SCOPES.includes(s)) return true;
  return false;
}

export function hasWriteScope(scopes: Iterable<string>): boolean {
  for (const s of scopes) if (WRITE_SCOPES.includes(s)) return true;
  return false;
}

/**
 * The scopes a key acts with. Keys flagged `legacy_scope_expansion` (set by migration for keys
 * that existed before per-family write scopes) that can connect but carry no vcp:write:* scope
 * get every write scope: the docs' "legacy keys are expanded server-side".
 */
export function effectiveScopes(scopes: readonly string[], legacyScopeExpansion: boolean): ReadonlySet<string> {
  const out = new Set(scopes);
  if (legacyScopeExpansion && hasConnectScope(scopes) && !hasWriteScope(scopes)) {
    for (const s of WRITE_SCOPES) out.add(s);
  }
  return out;
}
