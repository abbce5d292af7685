// The hot path: RabbitMQ's rabbitmq_auth_backend_http calls. A plain node:http listener (not
// Hono) because this is answered thousands of times a second and each layer costs; the admin
// listener uses Hono. Whatever a client sends, the answer is HTTP 200 text/plain `allow…` or
// `deny` (3.10.8 crashes the connection's handler on anything else; DESIGN §2).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DENY, type Answers } from './answers.js';
import { parseForm, type Fields } from './form.js';
import { AUTH_PATHS, type Metrics } from '../../metrics.js';

/** Form bodies from the broker are a few hundred bytes; anything bigger is not the broker. */
export const MAX_AUTH_BODY_BYTES = 8 * 1024;

function send(res: ServerResponse, status: number, body: string): void {
  // Every body sent here is ASCII (allow…, deny, ok, not found): length is its byte count.
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}

/** One broker call and what it counts into, resolved once per request from the URL. */
interface Route {
  answer: (fields: Fields) => string | Promise<string>;
  allow: { inc(): void };
  deny: { inc(): void };
  latency: { observe(seconds: number): void };
}

export function createAuthListener(answers: Answers, metrics: Metrics) {
  /** `/auth/<path>` → its answer and tallies, bound once. */
  const routes = new Map<string, Route>(
    AUTH_PATHS.map((path) => [
      `/auth/${path}`,
      { answer: answers[path], allow: metrics.allow[path], deny: metrics.deny[path], latency: metrics.latency[path] },
    ]),
  );

  function answer(route: Route, fields: Fields, res: ServerResponse, started: number): void {
    let result: string | Promise<string>;
    try {
      result = route.answer(fields);
    } catch {
      result = DENY;
    }
    if (typeof result === 'string') return finish(route, res, result, started);
    result.then(
      (body) => finish(route, res, body, started),
      () => finish(route, res, DENY, started),
    );
  }

  function finish(route: Route, res: ServerResponse, body: string, started: number): void {
    (body === DENY ? route.deny : route.allow).inc();
    route.latency.observe((performance.now() - started) / 1000);
    send(res, 200, body);
  }

  return function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const route = routes.get(pathname);
    if (route === undefined) {
      if (pathname === '/healthz') return send(res, 200, 'ok');
      req.resume();
      return pathname.startsWith('/auth/') ? send(res, 200, DENY) : send(res, 404, 'not found');
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (url.length - q > MAX_AUTH_BODY_BYTES) return finish(route, res, DENY, started);
      return answer(route, parseForm(q === -1 ? '' : url.slice(q + 1)), res, started);
    }
    if (req.method !== 'POST') {
      req.resume();
      return finish(route, res, DENY, started);
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
      if (size > MAX_AUTH_BODY_BYTES) return finish(route, res, DENY, started);
      answer(route, parseForm(body === undefined ? '' : body.toString('utf8')), res, started);
    });
  };
}
