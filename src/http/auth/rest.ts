// Forward auth for REST gateways at /auth/rest (nginx auth_request, Caddy forward_auth, Traefik
// forwardAuth, Envoy ext_authz in HTTP mode): the gateway sends the client's request headers, any
// method, no body needed. In: X-API-Key; the client address (the peer, or behind TRUSTED_PROXIES
// X-Forwarded-For / X-Real-IP, see policy/rest.ts clientAddress); X-Voke-Required-Scopes and
// X-Voke-Plant-Id, set per route by the gateway. Out: 200 with the key's identity in X-Voke-*
// headers for the upstream, or 401/403 with a JSON {code, message} (also in X-Voke-Error-Code
// and X-Voke-Error-Message, for gateways such as nginx that do not pass the auth answer's body
// on). A 401 is the same for every key that is not usable (none, unknown, revoked, expired), so
// the answer never tells whether a key exists. Nothing sent back contains the key.

import type { RestCheck, RestVerdict } from '../../keys/rest-check.js';
import type { KeyRecord } from '../../policy/key.js';
import { clientAddress, parseScopeList, type RestRefusal, type TrustedProxies } from '../../policy/rest.js';
import type { AuthRoute, RouteAnswer } from './server.js';

export const REST_PATH = '/auth/rest';

const REQUEST_HEADERS = ['x-api-key', 'x-forwarded-for', 'x-real-ip', 'x-voke-required-scopes', 'x-voke-plant-id'] as const;

/** The error codes, shared with the verify API's wording. */
const UNAUTHORIZED = { code: 'UNAUTHORIZED', message: 'A valid API key is required in the X-API-Key header' };
const MISSING = { code: 'UNAUTHORIZED', message: 'Missing X-API-Key header' };
const FORBIDDEN: Record<'ip_not_allowed' | 'insufficient_scope' | 'plant_not_allowed', { code: string; message: string }> = {
  ip_not_allowed: { code: 'IP_NOT_ALLOWED', message: 'This API key may not be used from this address' },
  insufficient_scope: { code: 'INSUFFICIENT_SCOPE', message: 'This API key lacks a scope this request requires' },
  plant_not_allowed: { code: 'PLANT_NOT_ALLOWED', message: 'This API key may not address this plant' },
};

function errorReply(status: 401 | 403, error: { code: string; message: string }, extra = ''): RouteAnswer {
  return {
    status,
    type: 'application/json',
    headers: `${extra}x-voke-error-code: ${error.code}\r\nx-voke-error-message: ${error.message}\r\n`,
    body: JSON.stringify(error),
  };
}

const CHALLENGE = 'www-authenticate: ApiKey header="X-API-Key"\r\n';
const REFUSALS: Record<RestRefusal, RouteAnswer> = {
  no_key: errorReply(401, MISSING, CHALLENGE),
  malformed_key: errorReply(401, UNAUTHORIZED, CHALLENGE),
  unknown_key: errorReply(401, UNAUTHORIZED, CHALLENGE),
  inactive: errorReply(401, UNAUTHORIZED, CHALLENGE),
  expired: errorReply(401, UNAUTHORIZED, CHALLENGE),
  ip_not_allowed: errorReply(403, FORBIDDEN.ip_not_allowed),
  insufficient_scope: errorReply(403, FORBIDDEN.insufficient_scope),
  plant_not_allowed: errorReply(403, FORBIDDEN.plant_not_allowed),
};

/**
 * The identity headers of a key, built once per key record (a changed key is a new record, so
 * what is kept here is never stale). The partner id is free text: percent-encoded (UTF-8, as
 * encodeURIComponent) so that any value is a valid header; plant ids `*` for every plant of the
 * organization, otherwise comma-separated (empty: none).
 */
const identities = new WeakMap<KeyRecord, string>();
export function identityHeaders(key: KeyRecord): string {
  let lines = identities.get(key);
  if (lines === undefined) {
    lines =
      `x-voke-key-id: ${key.id}\r\n` +
      `x-voke-organization-id: ${key.organizationId}\r\n` +
      `x-voke-partner-id: ${encodeURIComponent(key.partnerId)}\r\n` +
      `x-voke-scopes: ${key.storedScopes.join(',')}\r\n` +
      `x-voke-allowed-plant-ids: ${key.allowedPlantIds === null ? '*' : key.allowedPlantIds.join(',')}\r\n`;
    identities.set(key, lines);
  }
  return lines;
}

/** The 200 answer per key record, one object each (the listener makes its response once a second). */
const allowAnswers = new WeakMap<KeyRecord, RouteAnswer>();

function reply(verdict: RestVerdict): RouteAnswer {
  if (verdict.result !== 'allow') return REFUSALS[verdict.result];
  let answer = allowAnswers.get(verdict.key);
  if (answer === undefined) {
    answer = { status: 200, headers: identityHeaders(verdict.key), body: '' };
    allowAnswers.set(verdict.key, answer);
  }
  return answer;
}

/** The /auth/rest route of the auth listener (a check that throws or fails is answered 503 there). */
export function createForwardAuth(check: RestCheck, proxies: TrustedProxies): AuthRoute {
  return {
    headers: REQUEST_HEADERS,
    subpaths: true,
    answer(request, peer) {
      const h = request.headers ?? {};
      const plant = h['x-voke-plant-id'];
      const verdict = check(
        {
          secret: h['x-api-key'],
          clientIp: clientAddress(peer, h['x-forwarded-for'], h['x-real-ip'], proxies),
          requiredScopes: parseScopeList(h['x-voke-required-scopes']),
          plantId: plant === undefined || plant === '' ? undefined : plant,
        },
        'forward',
      );
      return verdict instanceof Promise ? verdict.then(reply) : reply(verdict);
    },
  };
}
