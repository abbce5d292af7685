// The hot path: RabbitMQ's rabbitmq_auth_backend_http calls. Answered thousands of times a second,
// so it is served straight from TCP sockets (node:net) with the framing of ./wire.ts: node:http's
// per-request streams and events cost more than the answer (bench/RESULTS.md, "The auth listener
// on node:net"). The admin listener uses Hono on node:http. With certificate files it speaks
// HTTPS (node:tls) instead, the same requests inside.
//
// Whatever a client sends, an answer on the broker's four paths is HTTP 200 text/plain `allow…` or
// `deny`, or `deny <reason>` for a broker known to be 4.3+ (3.10.8 crashes the connection's
// handler on anything else; docs/architecture.md, "What the broker sends"). Extra routes
// (options.routes: /auth/rest, forward auth for REST gateways) answer for themselves. Any other
// path answers 404: a gateway pointed at a wrong path must not read a 2xx as "allow". Framing
// errors (a malformed request line or header) get 400 and the connection is closed, as node:http
// does.
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics.js';
import { DENY, isDenial } from './answers.js';
import type { AuthBackend } from './backend.js';
import { type Fields, parseForm } from './form.js';
import { AUTH_PATHS } from './paths.js';
import { type AuthTlsFiles, DEFAULT_TLS_RELOAD_CHECK_MS, tlsServerOptions, watchTlsFiles } from './tls.js';
import { RequestReader, type WireRequest } from './wire.js';

/** Form bodies from the broker are a few hundred bytes; anything bigger is not the broker. */
export const MAX_AUTH_BODY_BYTES = 8 * 1024;
/** When connections that take too long are closed; checked every `sweepMs`, so up to that much later. */
export interface AuthTimeouts {
  /** No bytes from the client this long (node:http's keepAliveTimeout here before). Default 65 s. */
  idleMs: number;
  /** One request still incomplete this long after it began (node:http's headersTimeout). Default 60 s. */
  requestMs: number;
  /** Default 5 s. */
  sweepMs: number;
}
export const DEFAULT_AUTH_TIMEOUTS: AuthTimeouts = { idleMs: 65_000, requestMs: 60_000, sweepMs: 5_000 };
/**
 * AUTH_MAX_CONNECTIONS' default. A broker node keeps one to five keep-alive connections to the
 * backend; gateways asking on REST keep pools of their own. Each connection holds at most
 * ~90 KiB here (a 16 KiB head, an 8 KiB body, 64 KiB read ahead while an answer waits), so the
 * cap also bounds that memory at ~90 MiB.
 */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/** While an answer waits for the database, read no further than this from a pipelining client. */
const MAX_BUFFERED_BYTES = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};
const CONTINUE_RESPONSE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** The answer of a route that threw or failed. */
const ROUTE_FAILED: RouteAnswer = { status: 503, body: 'unavailable' };
const routeFailed = (): RouteAnswer => ROUTE_FAILED;
/** answer()'s result for a path this listener does not serve (a 404; every other answer is a 200). */
const NOT_FOUND = 'not found';

/** One broker call and what it counts into, resolved once per path. */
interface Route {
  answer: (fields: Fields) => string | Promise<string>;
  allow: { inc(): void };
  deny: { inc(): void };
  latency: { observe(seconds: number): void };
}

/** What a route added beside the broker's four answers: a status, a text body, header lines. */
export interface RouteAnswer {
  status: 200 | 401 | 403 | 404 | 503;
  /** ASCII (its length is written as its byte count). */
  body: string;
  /** Extra header lines, each ending in CRLF (`x-org: acme\r\n`). */
  headers?: string;
  /** The body's content type; default text/plain. */
  type?: string;
}

/** A route on the auth listener beside /auth/user|vhost|resource|topic, answered from the request itself. */
export interface AuthRoute {
  /** Lower-case names of the request header fields it reads (handed over in `request.headers`). */
  headers?: readonly string[];
  /**
   * It also answers `<its path>/<anything>` (Envoy's HTTP ext_authz appends the client's path to
   * the path it is given).
   */
  subpaths?: boolean;
  /** `peer`: the client's address as the socket has it (undefined once it is gone). */
  answer(request: WireRequest, peer: string | undefined): RouteAnswer | Promise<RouteAnswer>;
}

export interface AuthServerOptions {
  timeouts?: AuthTimeouts;
  /** Connections held at once; a new one beyond it is closed at once (and counted). Default DEFAULT_MAX_CONNECTIONS. */
  maxConnections?: number;
  /** HTTPS with these certificate files, reloaded when they change. */
  tls?: AuthTlsFiles;
  /** How often the certificate files are looked at. Default DEFAULT_TLS_RELOAD_CHECK_MS. */
  tlsReloadCheckMs?: number;
  /** Routes by path (the target before `?`). */
  routes?: ReadonlyMap<string, AuthRoute>;
  /** Where listener errors (accept failures) and certificate reloads are told. */
  log?: Logger;
}

/** A client connection: its reader, and whether an answer is being awaited (answers go out in order). */
interface Connection {
  socket: Socket;
  reader: RequestReader;
  waiting: boolean;
  /** The sweep tick of the connection's last received bytes. */
  seen: number;
  /** The sweep tick at which the request under way (if any) began, at the latest. */
  since: number;
  /** The client has sent all it will (half-close): end once the answers due are out. */
  ending: boolean;
  /** Reading is paused until the client takes the answers already written. */
  draining: boolean;
}

export interface AuthServer {
  /** A tls.Server with certificate files, a net.Server without. */
  server: Server | TlsServer;
  /** `http` or `https`. */
  scheme: 'http' | 'https';
  /** Stops accepting, closes idle connections and the others once their answers are out. */
  close(): Promise<void>;
}

export function createAuthServer(answers: AuthBackend, metrics: Metrics, options: AuthServerOptions = {}): AuthServer {
  const timeouts = options.timeouts ?? DEFAULT_AUTH_TIMEOUTS;
  const extraRoutes = options.routes ?? new Map<string, AuthRoute>();
  /** Routes that also answer their subpaths, as `<path>/` prefixes. */
  const prefixRoutes = [...extraRoutes].filter(([, route]) => route.subpaths === true).map(([path, route]) => [`${path}/`, route] as const);
  const extraRoute = (pathname: string): AuthRoute | undefined => {
    const exact = extraRoutes.get(pathname);
    if (exact !== undefined || prefixRoutes.length === 0) return exact;
    for (const [prefix, route] of prefixRoutes) if (pathname.startsWith(prefix)) return route;
    return undefined;
  };
  const keepHeaders =
    prefixRoutes.length === 0
      ? new Map<string, readonly string[]>()
      : new SubpathMap(prefixRoutes.filter(([, r]) => r.headers !== undefined).map(([p, r]) => [p, r.headers!] as const));
  for (const [path, route] of extraRoutes) if (route.headers !== undefined && route.headers.length > 0) keepHeaders.set(path, route.headers);
  /** `/auth/<path>` → its answer and tallies, bound once. */
  const routes = new Map<string, Route>(
    AUTH_PATHS.map((path) => [
      `/auth/${path}`,
      { answer: answers[path], allow: metrics.allow[path], deny: metrics.deny[path], latency: metrics.latency[path] },
    ]),
  );
  const connections = new Set<Connection>();
  let tick = 0;
  let closing = false;

  // The Date header, made once a second at most.
  let dateSecond = -1;
  let dateLine = '';
  /**
   * Whole responses on HTTP/1.1 keep-alive connections, by what was answered: a broker body
   * (`allow`, `deny`, one `allow vcp-key-<id>…` per key that logs in) or a route's answer object
   * (routes reuse one per outcome). Nearly every response is one of a handful, so each is made
   * once per Date second; the map is emptied when the second changes.
   */
  const wholeResponses = new Map<string | RouteAnswer, string>();
  function date(): string {
    const ms = Date.now();
    const second = Math.floor(ms / 1000);
    if (second !== dateSecond) {
      dateSecond = second;
      dateLine = `date: ${new Date(ms).toUTCString()}\r\n`;
      wholeResponses.clear();
    }
    return dateLine;
  }

  /** Every body here is ASCII (allow…, deny, ok, not found): its length is its byte count. */
  function response(status: number, body: string, request: WireRequest, keepAlive: boolean, headers = '', type = 'text/plain'): string {
    const connection = !keepAlive ? 'connection: close\r\n' : request.http10 ? 'connection: keep-alive\r\n' : '';
    const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: ${type}\r\ncontent-length: ${body.length}\r\n${headers}${connection}${date()}\r\n`;
    return request.method === 'HEAD' ? head : head + body;
  }

  /** The response for answer()'s result: a body (200, or 404 for NOT_FOUND) or a route's answer. */
  function make(answered: string | RouteAnswer, request: WireRequest, keepAlive: boolean): string {
    return typeof answered === 'string'
      ? response(answered === NOT_FOUND ? 404 : 200, answered, request, keepAlive)
      : response(answered.status, answered.body, request, keepAlive, answered.headers, answered.type);
  }

  /** make(), from wholeResponses for the common case. */
  function respond(answered: string | RouteAnswer, request: WireRequest, keepAlive: boolean): string {
    if (!keepAlive || request.http10 || request.method === 'HEAD') return make(answered, request, keepAlive);
    date(); // first: a new second empties wholeResponses
    let whole = wholeResponses.get(answered);
    if (whole === undefined) {
      whole = make(answered, request, keepAlive);
      if (wholeResponses.size < 1024) wholeResponses.set(answered, whole);
    }
    return whole;
  }

  function finished(route: Route, body: string, started: number): string {
    (isDenial(body) ? route.deny : route.allow).inc();
    route.latency.observe((performance.now() - started) / 1000);
    return body;
  }

  /**
   * The body of the 200 answer to one request: now, or later for an /auth call whose key must be
   * looked up; an extra route's answer (options.routes); NOT_FOUND for any other path.
   */
  function answer(request: WireRequest, socket: Socket): string | RouteAnswer | Promise<string | RouteAnswer> {
    const started = performance.now();
    const target = request.target;
    const q = target.indexOf('?');
    const pathname = q === -1 ? target : target.slice(0, q);
    const route = routes.get(pathname);
    if (route === undefined) {
      if (pathname === '/healthz') return 'ok';
      const extra = extraRoute(pathname);
      if (extra !== undefined) return answerRoute(extra, request, socket);
      return NOT_FOUND;
    }
    let form: string;
    if (request.method === 'POST') {
      if (request.tooLarge) return finished(route, DENY, started); // the reader kept none of it
      form = request.body;
    } else if (request.method === 'GET' || request.method === 'HEAD') {
      form = q === -1 ? '' : target.slice(q + 1);
      if (form.length > MAX_AUTH_BODY_BYTES) return finished(route, DENY, started);
    } else {
      return finished(route, DENY, started);
    }
    let result: string | Promise<string>;
    try {
      result = route.answer(parseForm(form));
    } catch {
      result = DENY;
    }
    if (typeof result === 'string') return finished(route, result, started);
    return result.then(
      (body) => finished(route, body, started),
      () => finished(route, DENY, started),
    );
  }

  /** A route's answer; a route that throws or fails answers 503 (never a crash). */
  function answerRoute(route: AuthRoute, request: WireRequest, socket: Socket): RouteAnswer | Promise<RouteAnswer> {
    try {
      const result = route.answer(request, socket.remoteAddress);
      return result instanceof Promise ? result.catch(routeFailed) : result;
    } catch {
      return routeFailed();
    }
  }

  function write(conn: Connection, data: string): void {
    if (data === '' || conn.socket.destroyed) return;
    if (!conn.socket.write(data, 'latin1') && !conn.draining) {
      // The client does not read its answers: stop reading its requests until it does.
      conn.draining = true;
      conn.socket.pause();
      conn.socket.once('drain', () => {
        conn.draining = false;
        conn.socket.resume();
      });
    }
  }

  /**
   * serve(), and a connection cut instead of a crashed process should it throw: one client's
   * request must not take the listener down for everyone.
   */
  function serveSafely(conn: Connection): void {
    try {
      serve(conn);
    } catch {
      conn.socket.destroy();
    }
  }

  /** Answers every whole request received, in order; stops at one whose answer must wait. */
  function serve(conn: Connection): void {
    if (conn.socket.writableEnded) return; // closing: whatever else the client sends is not answered
    let out = '';
    for (;;) {
      const event = conn.reader.next();
      if (event === undefined) break;
      if (event.kind === 'continue') {
        out += CONTINUE_RESPONSE;
        continue;
      }
      if (event.kind === 'error') {
        write(conn, `${out}HTTP/1.1 ${event.status} ${STATUS_TEXT[event.status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
        conn.socket.end();
        return;
      }
      conn.since = tick; // what follows in the buffer is the next request
      const keepAlive = event.keepAlive && !closing;
      const answered = answer(event, conn.socket);
      if (answered instanceof Promise) {
        write(conn, out);
        conn.waiting = true;
        if (conn.reader.buffered > MAX_BUFFERED_BYTES) conn.socket.pause();
        // (answer() turns a failed lookup into `deny`, and response() and write() do not throw.)
        void answered.then((result) => {
          conn.waiting = false;
          write(conn, respond(result, event, keepAlive && !closing));
          if (!keepAlive || closing) return void conn.socket.end();
          if (!conn.draining) conn.socket.resume();
          serveSafely(conn);
        });
        return;
      }
      out += respond(answered, event, keepAlive);
      if (!keepAlive) {
        write(conn, out);
        conn.socket.end();
        return;
      }
    }
    write(conn, out);
    if (conn.ending || (closing && conn.reader.idle)) conn.socket.end();
  }

  function accept(socket: Socket): void {
    const conn: Connection = { socket, reader: new RequestReader(readerOptions), waiting: false, seen: tick, since: tick, ending: false, draining: false };
    connections.add(conn);
    socket.on('data', (chunk: Buffer) => {
      if (socket.writableEnded) return; // answered its last request: the rest is not read
      conn.seen = tick;
      if (conn.reader.idle) conn.since = tick;
      conn.reader.push(chunk);
      if (!conn.waiting) serveSafely(conn);
      else if (conn.reader.buffered > MAX_BUFFERED_BYTES) socket.pause();
    });
    socket.on('end', () => {
      conn.ending = true;
      if (!conn.waiting) socket.end();
    });
    // A client gone mid-request: nothing to answer ('close' follows).
    socket.on('error', () => socket.destroy());
    socket.on('close', () => connections.delete(conn));
  }

  const readerOptions = { maxBodyBytes: MAX_AUTH_BODY_BYTES, keepHeaders };
  const serverOptions = { noDelay: true, allowHalfOpen: true };
  let server: Server | TlsServer;
  let stopWatching = () => {};
  if (options.tls === undefined) {
    server = createServer(serverOptions, accept);
  } else {
    // A broker's handshake takes milliseconds; one still unfinished after 10 s is cut off.
    const tlsServer = createTlsServer({ ...serverOptions, handshakeTimeout: 10_000, ...tlsServerOptions(options.tls) }, accept);
    // A client without a (valid) certificate, or not speaking TLS: refused at the handshake.
    tlsServer.on('secureConnection', () => metrics.listenerHandshake());
    tlsServer.on('tlsClientError', (_err, socket) => {
      metrics.listenerHandshakeFailed();
      socket.destroy();
    });
    stopWatching = watchTlsFiles(tlsServer, options.tls, options.tlsReloadCheckMs ?? DEFAULT_TLS_RELOAD_CHECK_MS, (outcome) => {
      if (outcome.ok) options.log?.info('auth listener: certificate files changed, loaded');
      else options.log?.warn({ reason: outcome.reason }, 'auth listener: certificate files changed but do not load; the previous ones stay in use');
    });
    server = tlsServer;
  }
  // node:net closes a connection beyond maxConnections as soon as it is accepted.
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  server.on('drop', () => metrics.listenerRefused());
  // Every accepted socket, a TLS one before its handshake too: close() ends those it must.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // After listen(): an accept that fails (EMFILE, ENFILE, …) is told here. Without a listener it
  // would throw and end the process; with one, the listener goes on with the next connection.
  let errorsUntold = 0;
  let lastTold = 0;
  server.on('error', (err) => {
    if (!server.listening) return; // a listen() failure: the caller's once('error') has it
    const now = Date.now();
    if (now - lastTold < 10_000) return void errorsUntold++;
    options.log?.error(
      { err: { message: err.message, code: (err as NodeJS.ErrnoException).code }, since: errorsUntold },
      'auth listener error; still listening',
    );
    lastTold = now;
    errorsUntold = 0;
  });
  metrics.watchListenerConnections(() => connections.size);

  const sweep = setInterval(() => {
    tick++;
    for (const conn of connections) {
      if (conn.waiting) continue; // on us, not on the client
      const silent = (tick - conn.seen) * timeouts.sweepMs > timeouts.idleMs;
      const slow = !conn.reader.idle && (tick - conn.since) * timeouts.sweepMs > timeouts.requestMs;
      if (silent || slow) conn.socket.destroy();
    }
  }, timeouts.sweepMs);
  sweep.unref();

  return {
    server,
    scheme: options.tls === undefined ? 'http' : 'https',
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        clearInterval(sweep);
        stopWatching();
        server.close(() => resolve());
        // Idle connections close now; the others once their request is answered (serve()).
        for (const conn of connections) if (!conn.waiting && conn.reader.idle) conn.socket.end();
        // Whatever has not closed by then (a client that never finishes its request) is cut off.
        setTimeout(() => {
          for (const conn of connections) conn.socket.destroy();
          for (const socket of sockets) socket.destroy();
        }, 5_000).unref();
      }),
  };
}

/** keepHeaders for the reader when a route answers its subpaths: a miss tries the `<path>/` prefixes. */
class SubpathMap extends Map<string, readonly string[]> {
  constructor(private readonly prefixes: readonly (readonly [string, readonly string[]])[]) {
    super();
  }

  override get(path: string): readonly string[] | undefined {
    const exact = super.get(path);
    if (exact !== undefined) return exact;
    for (const [prefix, headers] of this.prefixes) if (path.startsWith(prefix)) return headers;
    return undefined;
  }
}
