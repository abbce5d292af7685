// The hot path: RabbitMQ's rabbitmq_auth_backend_http calls. A plain node:http listener (not
// Hono) because this is answered thousands of times a second and each layer costs; the admin
// listener uses Hono. Whatever a client sends, the answer is HTTP 200 text/plain `allow…` or
// `deny` (3.10.8 crashes the connection's handler on anything else; DESIGN §2).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DENY, type Answers, type Fields } from './answers.js';
import type { AuthPath, Metrics } from '../../metrics.js';

/** Form bodies from the broker are a few hundred bytes; anything bigger is not the broker. */
export const MAX_AUTH_BODY_BYTES = 8 * 1024;

const HANDLERS: Record<string, AuthPath> = {
  '/auth/user': 'user',
  '/auth/vhost': 'vhost',
  '/auth/resource': 'resource',
  '/auth/topic': 'topic',
};

/**
 * A form body that needs no decoding (no `%`, no `+`: what the broker sends for partner keys),
 * read the way URLSearchParams reads it (WHATWG urlencoded parsing: parts split on `&`, empty
 * parts skipped, name before the first `=`, value after it or empty; `get` answers the first
 * part with that name) but lazily: nothing is split or copied except the values asked for.
 * Bodies reach this as decoded UTF-8 or as a URL, so they hold no lone surrogates for
 * URLSearchParams to replace either. test/auth-form.test.ts holds it to URLSearchParams.
 */
class PlainForm implements Fields {
  constructor(private readonly form: string) {}

  get(name: string): string | null {
    const form = this.form;
    if (name.length === 0) {
      // The first part that starts with `=` (empty parts have no name to match).
      const at = form.charCodeAt(0) === 61 /* = */ ? 0 : form.indexOf('&=');
      if (at === -1) return null;
      const start = at === 0 ? 1 : at + 2;
      const end = form.indexOf('&', start);
      return form.slice(start, end === -1 ? form.length : end);
    }
    // The first occurrence of `name` that starts a part and ends that part's name.
    for (let at = form.indexOf(name); at !== -1; at = form.indexOf(name, at + 1)) {
      if (at > 0 && form.charCodeAt(at - 1) !== 38 /* & */) continue;
      const after = at + name.length;
      if (after === form.length || form.charCodeAt(after) === 38 /* & */) return '';
      if (form.charCodeAt(after) !== 61 /* = */) continue;
      const end = form.indexOf('&', after);
      return form.slice(after + 1, end === -1 ? form.length : end);
    }
    return null;
  }
}

/** The broker's fields; anything that needs decoding goes to URLSearchParams itself. */
export function parseForm(form: string): Fields {
  if (form.includes('%') || form.includes('+')) return new URLSearchParams(form);
  // The URLSearchParams constructor drops one leading `?`.
  return new PlainForm(form.charCodeAt(0) === 63 /* ? */ ? form.slice(1) : form);
}

function send(res: ServerResponse, status: number, body: string): void {
  // Every body sent here is ASCII (allow…, deny, ok, not found): length is its byte count.
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}

export function createAuthListener(answers: Answers, metrics: Metrics) {
  function answer(path: AuthPath, fields: Fields, res: ServerResponse, started: number): void {
    let result: string | Promise<string>;
    try {
      result = answers[path](fields);
    } catch {
      result = DENY;
    }
    if (typeof result === 'string') return finish(path, res, result, started);
    result.then(
      (body) => finish(path, res, body, started),
      () => finish(path, res, DENY, started),
    );
  }

  function finish(path: AuthPath, res: ServerResponse, body: string, started: number): void {
    (body === DENY ? metrics.deny : metrics.allow)[path].inc();
    metrics.latency[path].observe((performance.now() - started) / 1000);
    send(res, 200, body);
  }

  return function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const path = HANDLERS[pathname];
    if (path === undefined) {
      if (pathname === '/healthz') return send(res, 200, 'ok');
      req.resume();
      return pathname.startsWith('/auth/') ? send(res, 200, DENY) : send(res, 404, 'not found');
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (url.length - q > MAX_AUTH_BODY_BYTES) return finish(path, res, DENY, started);
      return answer(path, parseForm(q === -1 ? '' : url.slice(q + 1)), res, started);
    }
    if (req.method !== 'POST') {
      req.resume();
      return finish(path, res, DENY, started);
    }
    // Read as the bare server reads: raw chunks, decoded once at the end. Not touching
    // `req.headers` (node builds that object lazily) and not decoding per chunk are each worth
    // µs per request. A body past the limit is drained, not kept, and denied. No 'error'
    // listener: a request that errors has lost its client, and node emits it only to listeners.
    let body: Buffer | undefined;
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_AUTH_BODY_BYTES) body = undefined;
      else body = body === undefined ? chunk : Buffer.concat([body, chunk]);
    });
    req.on('end', () => {
      if (size > MAX_AUTH_BODY_BYTES) return finish(path, res, DENY, started);
      answer(path, parseForm(body === undefined ? '' : body.toString('utf8')), res, started);
    });
  };
}
