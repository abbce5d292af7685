// The hot path: RabbitMQ's rabbitmq_auth_backend_http calls. Answered thousands of times a second,
// so it is served straight from TCP sockets (node:net) with the framing of ./wire.ts: node:http's
// per-request streams and events cost more than the answer (bench/RESULTS.md, "The auth listener
// on node:net"). The admin listener uses Hono on node:http.
//
// Whatever a client sends, an answer on the broker's four paths is HTTP 200 text/plain `allow…` or
// `deny` (3.10.8 crashes the connection's handler on anything else; docs/architecture.md, "What
// the broker sends"). /auth/rest is forward auth for REST gateways (./rest.ts: 200, 401 or 403).
// Any other path answers 404: a gateway pointed at a wrong path must not read a 2xx as "allow".
// Framing errors (a malformed request line or header) get 400 and the connection is closed, as
// node:http does.
import { createServer, type Server, type Socket } from 'node:net';
import { DENY } from './answers.js';
import type { AuthBackend } from './backend.js';
import { parseForm, type Fields } from './form.js';
import { RequestReader, type WireRequest } from './wire.js';
import { FAILED, isRestPath, type ForwardAuth, type Reply } from './rest.js';
import type { Metrics } from '../../metrics.js';
import { AUTH_PATHS } from './paths.js';

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
/** While an answer waits for the database, read no further than this from a pipelining client. */
const MAX_BUFFERED_BYTES = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
};
const CONTINUE_RESPONSE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** answer()'s result for a path this listener does not serve (a 404; the broker paths always answer 200). */
const NOT_FOUND = 'not found';

/** One broker call and what it counts into, resolved once per path. */
interface Route {
  answer: (fields: Fields) => string | Promise<string>;
  allow: { inc(): void };
  deny: { inc(): void };
  latency: { observe(seconds: number): void };
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
  server: Server;
  /** Stops accepting, closes idle connections and the others once their answers are out. */
  close(): Promise<void>;
}

export function createAuthServer(answers: AuthBackend, metrics: Metrics, timeouts: AuthTimeouts = DEFAULT_AUTH_TIMEOUTS, forwardAuth?: ForwardAuth): AuthServer {
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
  function date(): string {
    const ms = Date.now();
    const second = Math.floor(ms / 1000);
    if (second !== dateSecond) {
      dateSecond = second;
      dateLine = `date: ${new Date(ms).toUTCString()}\r\n`;
    }
    return dateLine;
  }

  /** Every body here is ASCII (allow…, deny, ok, not found): its length is its byte count. */
  function response(status: number, body: string, request: WireRequest, keepAlive: boolean): string {
    const connection = !keepAlive ? 'connection: close\r\n' : request.http10 ? 'connection: keep-alive\r\n' : '';
    const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n${connection}${date()}\r\n`;
    return request.method === 'HEAD' ? head : head + body;
  }

  /** A broker answer (a body: 200, or 404 for NOT_FOUND) or a forward-auth reply, framed. */
  function respond(answered: string | Reply, request: WireRequest, keepAlive: boolean): string {
    if (typeof answered === 'string') return response(answered === NOT_FOUND ? 404 : 200, answered, request, keepAlive);
    const connection = !keepAlive ? 'connection: close\r\n' : request.http10 ? 'connection: keep-alive\r\n' : '';
    // Bodies are JSON of ASCII text; header values ASCII (the partner id is percent-encoded).
    const head = `HTTP/1.1 ${answered.status} ${STATUS_TEXT[answered.status]}\r\n${answered.headers}content-length: ${answered.body.length}\r\n${connection}${date()}\r\n`;
    return request.method === 'HEAD' ? head : head + answered.body;
  }

  /** Forward auth for one request; a failure to check is a 500 (never a 2xx). */
  function restAnswer(request: WireRequest, socket: Socket, forwardAuth: ForwardAuth): Reply | Promise<Reply> {
    try {
      const reply = forwardAuth(request.head, socket.remoteAddress);
      return reply instanceof Promise ? reply.catch(() => FAILED) : reply;
    } catch {
      return FAILED;
    }
  }

  function finished(route: Route, body: string, started: number): string {
    (body === DENY ? route.deny : route.allow).inc();
    route.latency.observe((performance.now() - started) / 1000);
    return body;
  }

  /**
   * The body of the 200 answer to one request: now, or later for an /auth call whose key must be
   * looked up; NOT_FOUND for a path this listener does not serve; a whole reply for /auth/rest.
   */
  function answer(request: WireRequest, socket: Socket): string | Reply | Promise<string | Reply> {
    const started = performance.now();
    const target = request.target;
    const q = target.indexOf('?');
    const pathname = q === -1 ? target : target.slice(0, q);
    const route = routes.get(pathname);
    if (route === undefined) {
      if (pathname === '/healthz') return 'ok';
      return forwardAuth !== undefined && isRestPath(pathname) ? restAnswer(request, socket, forwardAuth) : NOT_FOUND;
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
        write(conn, out + `HTTP/1.1 ${event.status} ${STATUS_TEXT[event.status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
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
        // (answer() turns a failed lookup into `deny` or a 500 reply, and respond() and write() do not throw.)
        void answered.then((body) => {
          conn.waiting = false;
          write(conn, respond(body, event, keepAlive && !closing));
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

  const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    const conn: Connection = { socket, reader: new RequestReader(MAX_AUTH_BODY_BYTES), waiting: false, seen: tick, since: tick, ending: false, draining: false };
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
  });

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
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        clearInterval(sweep);
        server.close(() => resolve());
        // Idle connections close now; the others once their request is answered (serve()).
        for (const conn of connections) if (!conn.waiting && conn.reader.idle) conn.socket.end();
        // Whatever has not closed by then (a client that never finishes its request) is cut off.
        setTimeout(() => {
          for (const conn of connections) conn.socket.destroy();
        }, 5_000).unref();
      }),
  };
}
