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
 * read the way URLSearchParams reads it (WHATWG urlencoded parsing: split on `&`, skip empty
 * parts, name before the first `=`, value after it or empty; `get` answers the first match) at a
 * fraction of its cost. Bodies reach this as decoded UTF-8 or as a URL, so they hold no lone
 * surrogates for URLSearchParams to replace either.
 */
class PlainForm implements Fields {
  private readonly names: string[] = [];
  private readonly values: string[] = [];

  constructor(form: string) {
    let start = 0;
    while (start < form.length) {
      let end = form.indexOf('&', start);
      if (end === -1) end = form.length;
      if (end > start) {
        const eq = form.indexOf('=', start);
        const split = eq !== -1 && eq < end;
        this.names.push(form.slice(start, split ? eq : end));
        this.values.push(split ? form.slice(eq + 1, end) : '');
      }
      start = end + 1;
    }
  }

  get(name: string): string | null {
    const i = this.names.indexOf(name);
    return i === -1 ? null : this.values[i]!;
  }
}

/** The broker's fields; anything that needs decoding goes to URLSearchParams itself. */
export function parseForm(form: string): Fields {
  if (form.includes('%') || form.includes('+')) return new URLSearchParams(form);
  // The URLSearchParams constructor drops one leading `?`.
  return new PlainForm(form.charCodeAt(0) === 63 /* ? */ ? form.slice(1) : form);
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
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
      return send(res, pathname.startsWith('/auth/') ? 200 : 404, pathname.startsWith('/auth/') ? DENY : 'not found');
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (url.length - q > MAX_AUTH_BODY_BYTES) return finish(path, res, DENY, started);
      return answer(path, parseForm(q === -1 ? '' : url.slice(q + 1)), res, started);
    }
    if (req.method !== 'POST') {
      req.resume();
      return finish(path, res, DENY, started);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_AUTH_BODY_BYTES) {
      req.resume();
      return finish(path, res, DENY, started);
    }
    let body = '';
    let tooLarge = false;
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (tooLarge) return;
      body += chunk;
      if (body.length > MAX_AUTH_BODY_BYTES) tooLarge = true;
    });
    req.on('end', () => {
      if (tooLarge) return finish(path, res, DENY, started);
      answer(path, parseForm(body), res, started);
    });
    req.on('error', () => {
      if (!res.headersSent) finish(path, res, DENY, started);
    });
  };
}
