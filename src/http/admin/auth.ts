// Who is calling (docs/architecture.md, "Admin surface"). `Authorization: Bearer <token>`: a token from ADMIN_TOKENS is a
// SUPER_ADMIN service principal; anything else must be an HS256 JWT signed with JWT_SECRET.
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { verify } from 'hono/jwt';
import { z } from 'zod';
import { matchesAny } from '../../secrets.js';
import { getOrganization } from '../../store/organizations.js';
import type { OrganizationView } from '../../store/rows.js';
import type { UserInput } from '../../store/users.js';
import type { AdminDeps } from './deps.js';
import { ApiError } from './errors.js';
import { text, uuid } from './schemas.js';

export const SUPER_ADMIN = 'SUPER_ADMIN';
export const ORG_ADMIN = 'ORG_ADMIN';
/** Longer Authorization values are refused before any work. */
const MAX_TOKEN_LENGTH = 8192;

export interface Principal {
  kind: 'admin-token' | 'jwt';
  /** users.id of the caller: the JWT `sub`, or derived from the admin token's hash. */
  userId: string;
  email: string | null;
  name: string | null;
  role: string;
  /** The JWT's `orgId` claim (null for admin tokens). */
  orgId: string | null;
}

/** The users row of whoever acts (upserted in the same transaction as the change it makes). */
export function actorUser(p: Principal): UserInput {
  return { id: p.userId, email: p.email, name: p.name, role: p.role, organizationId: p.orgId };
}

/** What a request carries: the app's dependencies (set first), then who calls and for which org. */
export type AdminEnv = { Variables: { deps: AdminDeps; principal: Principal; org: OrganizationView } };

const sha256 = (text: string | Buffer): Buffer => createHash('sha256').update(text).digest();

/** A stable UUID (RFC 9562 version 8 layout) for an admin token, from its hash only. */
export function adminTokenUserId(tokenHash: Buffer): string {
  const b = sha256(Buffer.concat([Buffer.from('voke-auth admin-token principal\0'), tokenHash])).subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Compares a presented token with every configured admin token in constant time: both sides
 * are hashed first (equal lengths), and every entry is compared (no early exit).
 */
export function adminTokenMatcher(tokens: readonly string[]): (presented: string) => Buffer | undefined {
  const hashes = tokens.map((t) => sha256(t));
  return (presented) => hashes[matchesAny(hashes, sha256(presented))];
}

const JwtClaims = z.object({
  sub: uuid(),
  email: text(0, 320).nullish(),
  name: text(0, 200).nullish(),
  role: text(1, 64),
  orgId: uuid().nullish(),
  // Session tokens must expire; hono's verify rejects an `exp` in the past.
  exp: z.number(),
});

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_TOKEN_LENGTH) return undefined;
  const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
  return m?.[1];
}

const matchers = new WeakMap<AdminDeps, ReturnType<typeof adminTokenMatcher>>();

/** Sets `principal`, or answers 401. JWT error texts contain the token: they are never logged. */
export const authenticate: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const deps = c.get('deps');
  let matchAdminToken = matchers.get(deps);
  if (matchAdminToken === undefined) matchers.set(deps, (matchAdminToken = adminTokenMatcher(deps.config.adminTokens)));
  const secret = deps.config.jwtSecret;
  const token = bearerToken(c.req.header('authorization'));
  if (token === undefined) throw new ApiError('UNAUTHORIZED', 'Missing or malformed Authorization: Bearer header');
  const adminHash = matchAdminToken(token);
  if (adminHash !== undefined) {
    const userId = adminTokenUserId(adminHash);
    c.set('principal', { kind: 'admin-token', userId, email: null, name: `admin-token-${userId.slice(0, 8)}`, role: SUPER_ADMIN, orgId: null });
    return next();
  }
  if (secret === undefined) throw new ApiError('UNAUTHORIZED', 'Invalid token');
  let payload: unknown;
  try {
    payload = await verify(token, secret, 'HS256');
  } catch (err) {
    const expired = (err as Error).name === 'JwtTokenExpired';
    throw new ApiError('UNAUTHORIZED', expired ? 'Token expired' : 'Invalid token');
  }
  const claims = JwtClaims.safeParse(payload);
  if (!claims.success) throw new ApiError('UNAUTHORIZED', 'Token claims invalid (sub and orgId must be UUIDs; role and exp are required)');
  const { sub, email, name, role, orgId } = claims.data;
  c.set('principal', { kind: 'jwt', userId: sub.toLowerCase(), email: email ?? null, name: name ?? null, role, orgId: orgId?.toLowerCase() ?? null });
  return next();
};

const verifierMatchers = new WeakMap<AdminDeps, ReturnType<typeof adminTokenMatcher>>();

/**
 * POST /api/v1/keys/verify only: a token from VERIFY_TOKENS or ADMIN_TOKENS (compared in constant
 * time), no JWT. `authenticate` does not know VERIFY_TOKENS, so they open no other route.
 */
export const authenticateVerifier: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const deps = c.get('deps');
  let match = verifierMatchers.get(deps);
  if (match === undefined) verifierMatchers.set(deps, (match = adminTokenMatcher([...deps.config.verifyTokens, ...deps.config.adminTokens])));
  const token = bearerToken(c.req.header('authorization'));
  if (token === undefined) throw new ApiError('UNAUTHORIZED', 'Missing or malformed Authorization: Bearer header');
  if (match(token) === undefined) throw new ApiError('UNAUTHORIZED', 'Invalid token');
  return next();
};

export const requireSuperAdmin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  if (c.get('principal').role !== SUPER_ADMIN) throw new ApiError('FORBIDDEN', 'Requires the SUPER_ADMIN role');
  return next();
};

const OrgHeader = uuid();

/**
 * Partner routes: `x-org-id` names the organization. ORG_ADMIN: only its own (403 otherwise,
 * also when it does not exist). SUPER_ADMIN: any existing one (404 otherwise). Others: 403.
 */
export const requireOrgAccess: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const principal = c.get('principal');
  if (principal.role !== ORG_ADMIN && principal.role !== SUPER_ADMIN) {
    throw new ApiError('FORBIDDEN', 'Requires the ORG_ADMIN or SUPER_ADMIN role');
  }
  const header = c.req.header('x-org-id');
  if (header === undefined || header === '') {
    throw new ApiError('VALIDATION_ERROR', 'Missing x-org-id header', { issues: [{ path: 'header.x-org-id', code: 'invalid_type', message: 'Required' }] });
  }
  const parsed = OrgHeader.safeParse(header.trim());
  if (!parsed.success) {
    throw new ApiError('VALIDATION_ERROR', 'x-org-id must be a UUID', {
      issues: [{ path: 'header.x-org-id', code: 'invalid_format', message: 'Invalid UUID' }],
    });
  }
  const orgId = parsed.data.toLowerCase();
  if (principal.role === ORG_ADMIN && principal.orgId !== orgId) {
    throw new ApiError('FORBIDDEN', 'ORG_ADMIN may only manage its own organization');
  }
  const org = await getOrganization(c.get('deps').sql, orgId);
  if (org === undefined) throw new ApiError('ORGANIZATION_NOT_FOUND');
  c.set('org', org);
  return next();
};
