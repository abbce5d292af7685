// A presented key against one REST request, for both ways REST asks: forward auth from a gateway
// (/auth/rest on the auth listener) and the verify API (POST /api/v1/keys/verify). The lookup is
// the broker login's (cache/find-key.ts, the same key table), the rule is policy/rest.ts; this
// module adds what every decision records: last use of the key on an allow, a
// partner.request_refused count on a refusal (aggregated, store/usage.ts), the metric.
import { type FindKeyDeps, findKeyBySecret, MALFORMED_KEY } from '../cache/find-key.js';
import type { Metrics, RestSource } from '../metrics.js';
import type { KeyRecord } from '../policy/key.js';
import { decideRest, type RestRefusal, type RestRequest } from '../policy/rest.js';
import type { UsageRecorder } from '../store/usage.js';

export interface RestQuery extends RestRequest {
  /** The presented key (X-API-Key, or the verify body's `key`); undefined or '' when none. */
  secret: string | undefined;
}

export type RestVerdict = { result: 'allow'; key: KeyRecord } | { result: RestRefusal; key: KeyRecord | undefined };

export interface RestCheckDeps extends FindKeyDeps {
  usage: UsageRecorder;
  metrics: Metrics;
  now: () => number;
}

/** Answers now when the key is in the table (the common case), later when the database is asked. */
export type RestCheck = (query: RestQuery, source: RestSource) => RestVerdict | Promise<RestVerdict>;

export function createRestCheck(deps: RestCheckDeps): RestCheck {
  const { usage, metrics, now } = deps;

  function refuse(result: RestRefusal, key: KeyRecord | undefined, source: RestSource): RestVerdict {
    metrics.rest[source][result].inc();
    usage.requestRefused(key?.organizationId ?? null, key?.id ?? null, result);
    return { result, key };
  }

  function settle(key: KeyRecord | undefined, query: RestQuery, source: RestSource): RestVerdict {
    const at = now();
    const result = decideRest(key, query, at);
    if (result !== 'allow') return refuse(result, key, source);
    metrics.rest[source].allow.inc();
    usage.keyUsed(key!.id, at);
    return { result, key: key! };
  }

  return (query, source) => {
    if (query.secret === undefined || query.secret === '') return refuse('no_key', undefined, source);
    const found = findKeyBySecret(deps, query.secret);
    if (found === MALFORMED_KEY) return refuse('malformed_key', undefined, source);
    return found instanceof Promise ? found.then((key) => settle(key, query, source)) : settle(found, query, source);
  };
}
