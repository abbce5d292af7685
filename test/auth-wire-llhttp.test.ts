// The auth listener's framing against node's own parser (llhttp, in a node:http server with its
// default settings), over real TCP, the same bytes to both. What must hold, case by case:
//   * whatever llhttp refuses, the auth listener refuses too (it hands out no request llhttp did
//     not hand out), and
//   * whenever both accept, the framing is identical: the same number of requests, each with the
//     same method, target and body.
// Refusing more than llhttp is allowed (it is stricter on purpose: docs/auth-listener.md).
//
// Cases: a hand-written table of smuggling and desync attempts, then seeded mutations of the
// requests RabbitMQ 3.10.8, 4.0.5 and 4.3.6 really send (test/fixtures/broker-auth-requests.json,
// captured from each line with a raw TCP server, POST and GET). WIRE_DIFF_SEED=<n> replays a seed,
// WIRE_DIFF_CASES=<n> sets how many mutations.
//
// Every request path is rewritten from /auth/ to /xuth/ (same length) so that every request the
// listener accepts reaches a route that echoes its framing; the /auth routes read with the same reader.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, connect, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENY } from '../src/http/auth/answers.js';
import type { AuthBackend } from '../src/http/auth/backend.js';
import { type AuthRoute, type AuthServer, createAuthServer } from '../src/http/auth/server.js';
import { createMetrics } from '../src/metrics.js';

interface Framed {
  method: string;
  target: string;
  /** The body as UTF-8 (both sides decode the same way); null when the listener read it past as too large. */
  body: string | null;
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/broker-auth-requests.json', import.meta.url), 'utf8')) as Record<string, string[]>;
const brokerCalls = Object.values(fixtures)
  .flat()
  .map((r) => r.replace(/^(\w+) \/auth\//, '$1 /xuth/'));

// --- The two servers ----------------------------------------------------------------------------

/** node:http, default settings: what it hands to its request handler, by the client's port. */
let node: HttpServer;
const nodeSeen = new Map<number, Framed[]>();
let ours: AuthServer;

/** Answers every path with its framing in a header (base64 JSON; a HEAD answer has no body). */
const echo: AuthRoute = {
  answer: (request) => ({
    status: 200,
    body: 'ok',
    headers: `x-framed: ${Buffer.from(JSON.stringify({ method: request.method, target: request.target, body: request.tooLarge ? null : request.body } satisfies Framed)).toString('base64')}\r\n`,
  }),
};
/** Every path is an echo route (a map that has them all). */
const everyPath = { get: () => echo, [Symbol.iterator]: function* () {} } as unknown as ReadonlyMap<string, AuthRoute>;
const denyAll: AuthBackend = { user: () => DENY, vhost: () => DENY, resource: () => DENY, topic: () => DENY };

beforeAll(async () => {
  node = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const port = req.socket.remotePort!;
      const list = nodeSeen.get(port) ?? [];
      list.push({ method: req.method!, target: req.url!, body: Buffer.concat(chunks).toString('utf8') });
      nodeSeen.set(port, list);
      res.end('ok');
    });
  });
  // node:http's own clientError handling destroys the socket at once, which can drop the
  // request before the error unread ('end' not emitted); this one answers the same 400 and
  // closes a moment later, so that every request llhttp completed is recorded.
  node.on('clientError', (_err, socket) => {
    if (socket.writable) socket.write('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    setTimeout(() => socket.destroy(), 20);
  });
  ours = createAuthServer(denyAll, createMetrics(), { routes: everyPath });
  await Promise.all([node, ours.server as Server].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
});
afterAll(async () => {
  node.closeAllConnections();
  await Promise.all([new Promise((r) => node.close(r)), ours.close()]);
});

/** Sends the bytes on a new connection, half-closes, and reads until the server closes. */
function send(port: number, bytes: Buffer): Promise<{ localPort: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let localPort = 0;
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within 5 s from port ${port}`));
    }, 5_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined); // a reset after an error answer: what was read counts
    socket.on('connect', () => {
      localPort = socket.localPort!;
      socket.end(bytes);
    });
    socket.on('close', () => {
      clearTimeout(guard);
      resolve({ localPort, text });
    });
  });
}

/** The echoed requests in the listener's responses (100 Continue skipped); stops at any other status. */
function echoed(text: string): Framed[] {
  const out: Framed[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const head = text.slice(at, end);
    const status = head.slice(9, 12);
    if (status === '100') {
      at = end + 4;
      continue;
    }
    if (status !== '200') break;
    const framed = JSON.parse(Buffer.from(/x-framed: (\S+)/.exec(head)![1]!, 'base64').toString('utf8')) as Framed;
    out.push(framed);
    at = end + 4 + (framed.method === 'HEAD' ? 0 : Number(/content-length: (\d+)/.exec(head)![1]));
  }
  return out;
}

interface Outcome {
  llhttp: Framed[];
  ours: Framed[];
}

async function both(bytes: Buffer): Promise<Outcome> {
  const [fromNode, fromOurs] = await Promise.all([send((node.address() as AddressInfo).port, bytes), send((ours.server.address() as AddressInfo).port, bytes)]);
  const llhttp = nodeSeen.get(fromNode.localPort) ?? [];
  nodeSeen.delete(fromNode.localPort);
  return { llhttp, ours: echoed(fromOurs.text) };
}

/** Empty when the outcome holds to the rule; else what broke it. */
function violation({ llhttp, ours: mine }: Outcome): string {
  if (mine.length > llhttp.length) return `the listener accepted ${mine.length} request(s), llhttp ${llhttp.length}`;
  for (const [i, r] of mine.entries()) {
    const l = llhttp[i]!;
    if (r.method !== l.method || r.target !== l.target || (r.body !== null && r.body !== l.body)) {
      return `request ${i} framed differently: ours ${JSON.stringify(r)}, llhttp ${JSON.stringify(l)}`;
    }
  }
  return '';
}

// --- Hand-written cases -------------------------------------------------------------------------------

const H = 'host: x\r\n';
const post = (headers: string, body: string) => `POST /xuth/user HTTP/1.1\r\n${H}${headers}\r\n${body}`;
const te = (headers: string, body: string) => post(`transfer-encoding: chunked\r\n${headers}`, body);
const smuggled = `GET /xuth/topic?smuggled HTTP/1.1\r\n${H}\r\n`;

/** [name, bytes (Latin-1), what the listener must hand out: a number of requests]. */
const TABLE: [string, string, number][] = [
  // Baselines both take.
  ['a broker POST', brokerCalls[0]!, 1],
  ['two pipelined broker calls', brokerCalls[0]! + brokerCalls[1]!, 2],
  ['a chunked body', te('', '3\r\nabc\r\n0\r\n\r\n'), 1],
  ['chunk extensions (token, quoted)', te('', '3;a=b;c="d e";f\r\nabc\r\n0;x\r\n\r\n'), 1],
  ['HTTP/1.0 without Host', 'GET /xuth/vhost HTTP/1.0\r\n\r\n', 1],
  ['Expect: 100-continue', post('content-length: 3\r\nexpect: 100-continue\r\n', 'abc'), 1],
  ['empty lines before a request', `\r\n\r\n${post('content-length: 1\r\n', 'a')}`, 1],
  ['HEAD with a body', `HEAD /xuth/user HTTP/1.1\r\n${H}content-length: 3\r\n\r\nabc`, 1],
  ['a leading tab before a Content-Length value', post('content-length:\t3\r\n', 'abc'), 1],
  ['spaces after a Content-Length value', post('content-length: 3  \r\n', 'abc'), 1],
  ['leading zeros in Content-Length', post('content-length: 003\r\n', 'abc'), 1],
  ['obs-text in a header value', post('x: \xe9\r\ncontent-length: 1\r\n', 'a'), 1],
  // CL.TE and TE.CL.
  ['CL.TE: Content-Length, then Transfer-Encoding', post(`content-length: 6\r\ntransfer-encoding: chunked\r\n`, `0\r\n\r\nX${smuggled}`), 0],
  [
    'TE.CL: Transfer-Encoding, then Content-Length',
    post(`transfer-encoding: chunked\r\ncontent-length: 3\r\n`, `8\r\n${smuggled.slice(0, 8)}\r\n0\r\n\r\n`),
    0,
  ],
  ['TE with a tab before the value and CL', post(`transfer-encoding:\tchunked\r\ncontent-length: 4\r\n`, '0\r\n\r\n'), 0],
  ['TE: chunked with a trailing tab', post(`transfer-encoding: chunked\t\r\n`, '0\r\n\r\n'), 0],
  ['TE: chunked, chunked', post(`transfer-encoding: chunked, chunked\r\n`, '0\r\n\r\n'), 0],
  ['TE: gzip, chunked', post(`transfer-encoding: gzip, chunked\r\n`, '0\r\n\r\n'), 0],
  ['TE: identity', post(`transfer-encoding: identity\r\ncontent-length: 1\r\n`, 'a'), 0],
  ['TE: xchunked', post(`transfer-encoding: xchunked\r\n`, '0\r\n\r\n'), 0],
  ['two TE fields', post(`transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n`, '0\r\n\r\n'), 0],
  ['TE in HTTP/1.0', `POST /xuth/user HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, 0],
  ['TE with a space before the colon', post(`transfer-encoding : chunked\r\n`, '0\r\n\r\n'), 0],
  ['TE with a vertical tab', post(`transfer-encoding:\x0bchunked\r\n`, '0\r\n\r\n'), 0],
  // Content-Length oddities.
  ['two equal Content-Length fields', post('content-length: 3\r\ncontent-length: 3\r\n', 'abc'), 0],
  ['two different Content-Length fields', post('content-length: 3\r\ncontent-length: 4\r\n', 'abcd'), 0],
  ['Content-Length: 3, 3', post('content-length: 3, 3\r\n', 'abc'), 0],
  ['a tab after a Content-Length value', post('content-length: 3\t\r\n', 'abc'), 0],
  ['Content-Length with a plus sign', post('content-length: +3\r\n', 'abc'), 0],
  ['a negative Content-Length', post('content-length: -3\r\n', 'abc'), 0],
  ['a hex Content-Length', post('content-length: 0x3\r\n', 'abc'), 0],
  ['an empty Content-Length', post('content-length:\r\n', 'abc'), 0],
  ['an overlong Content-Length', post('content-length: 99999999999999999999999\r\n', 'abc'), 0],
  ['a space inside Content-Length', post('content-length: 1 0\r\n', '0123456789'), 0],
  // Chunks.
  ['a bare LF after a chunk extension', te('', `3;\nxxx\r\n0\r\n\r\n`), 0],
  ['a bare LF after a chunk size', te('', '3\nabc\r\n0\r\n\r\n'), 0],
  ['a bare CR after a chunk size', te('', '3\rabc\r\n0\r\n\r\n'), 0],
  ['a bare LF after chunk data', te('', '3\r\nabc\n0\r\n\r\n'), 0],
  ['a space before a chunk size', te('', ' 3\r\nabc\r\n0\r\n\r\n'), 0],
  ['a tab after a chunk size', te('', '3\t\r\nabc\r\n0\r\n\r\n'), 0],
  ['a space after a chunk size', te('', '3 \r\nabc\r\n0\r\n\r\n'), 0],
  ['a space before a chunk extension', te('', '3 ;a\r\nabc\r\n0\r\n\r\n'), 0],
  ['a space after the semicolon', te('', '3; a\r\nabc\r\n0\r\n\r\n'), 0],
  ['a space around =', te('', '3;a = b\r\nabc\r\n0\r\n\r\n'), 0],
  ['an empty chunk extension', te('', '3;\r\nabc\r\n0\r\n\r\n'), 0],
  ['an extension value left empty', te('', '3;a=\r\nabc\r\n0\r\n\r\n'), 0],
  ['an extension without a name', te('', '3;=b\r\nabc\r\n0\r\n\r\n'), 0],
  ['an unterminated quoted extension', te('', '3;a="b\r\nabc\r\n0\r\n\r\n'), 0],
  ['a control character in an extension', te('', '3;a\x01\r\nabc\r\n0\r\n\r\n'), 0],
  ['a chunk size in hex letters', te('', 'A\r\n0123456789\r\n0\r\n\r\n'), 1],
  ['leading zeros in a chunk size', te('', '0003\r\nabc\r\n000\r\n\r\n'), 1],
  ['a chunk size not in hex', te('', 'g\r\nabc\r\n0\r\n\r\n'), 0],
  ['an overlong chunk size', te('', 'fffffffffffffffffff\r\nabc\r\n0\r\n\r\n'), 0],
  ['chunk data longer than its size', te('', '2\r\nabc\r\n0\r\n\r\n'), 0],
  ['a trailer field', te('', '3\r\nabc\r\n0\r\nx: y\r\n\r\n'), 0],
  ['a request as trailer lines (the smuggle)', te('', `0\r\n${smuggled}`), 0],
  ['a malformed trailer', te('', '0\r\nno colon\r\n\r\n'), 0],
  ['a trailer with obs-fold', te('', '0\r\nx: y\r\n z\r\n\r\n'), 0],
  // Header syntax.
  ['obs-fold', post('x: a\r\n b\r\ncontent-length: 1\r\n', 'a'), 0],
  ['obs-fold of Content-Length', post('content-length:\r\n 3\r\n', 'abc'), 0],
  ['a bare LF ending a header line', post('x: a\ncontent-length: 1\r\n', 'a'), 0],
  ['a bare CR inside a header value', post('x: a\rb\r\ncontent-length: 1\r\n', 'a'), 0],
  ['a bare LF ending the head', `POST /xuth/user HTTP/1.1\r\n${H}content-length: 1\r\n\na`, 0],
  ['a NUL in a header value', post('x: a\x00b\r\ncontent-length: 1\r\n', 'a'), 0],
  ['DEL in a header value', post('x: a\x7f\r\ncontent-length: 1\r\n', 'a'), 0],
  ['a space before the colon', post('content-length : 1\r\n', 'a'), 0],
  ['a space inside a header name', post('content length: 1\r\n', 'a'), 0],
  ['a header name with a non-token byte', post('x@y: 1\r\ncontent-length: 1\r\n', 'a'), 0],
  ['an empty header name', post(': 1\r\ncontent-length: 1\r\n', 'a'), 0],
  ['a header line without a colon', post('nocolon\r\ncontent-length: 1\r\n', 'a'), 0],
  ['a header line starting with a space', `POST /xuth/user HTTP/1.1\r\n ${H}content-length: 1\r\n\r\na`, 0],
  ['a NUL in a header name', post('x\x00y: 1\r\ncontent-length: 1\r\n', 'a'), 0],
  ['obs-text in a header name', post('\xe9: 1\r\ncontent-length: 1\r\n', 'a'), 0],
  // Host.
  ['no Host in HTTP/1.1', 'GET /xuth/vhost HTTP/1.1\r\n\r\n', 0],
  ['two Host fields', `GET /xuth/vhost HTTP/1.1\r\n${H}${H}\r\n`, 0],
  // Request lines.
  ['a lower-case method', `post /xuth/user HTTP/1.1\r\n${H}\r\n`, 0],
  ['an unknown method', `BREW /xuth/user HTTP/1.1\r\n${H}\r\n`, 0],
  ['CONNECT', `CONNECT x:443 HTTP/1.1\r\n${H}\r\n`, 0],
  ['two spaces after the method', `GET  /xuth/user HTTP/1.1\r\n${H}\r\n`, 0],
  ['a tab instead of a space', `GET\t/xuth/user HTTP/1.1\r\n${H}\r\n`, 0],
  ['a space inside the target', `GET /xuth/us er HTTP/1.1\r\n${H}\r\n`, 0],
  ['a NUL in the target', `GET /xuth/\x00 HTTP/1.1\r\n${H}\r\n`, 0],
  ['a control character in the target', `GET /xuth/\x01 HTTP/1.1\r\n${H}\r\n`, 0],
  ['DEL in the target', `GET /xuth/\x7f HTTP/1.1\r\n${H}\r\n`, 0],
  ['obs-text in the target', `GET /xuth/\xe9 HTTP/1.1\r\n${H}\r\n`, 0],
  ['a fragment in the target', `GET /xuth/user#f HTTP/1.1\r\n${H}\r\n`, 1],
  ['an absolute-form target', `GET http://x/xuth/user HTTP/1.1\r\n${H}\r\n`, 0],
  ['an asterisk-form target', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 0],
  ['a target without its slash', `GET xuth/user HTTP/1.1\r\n${H}\r\n`, 0],
  ['a target starting with a backslash', `GET \\xuth/user HTTP/1.1\r\n${H}\r\n`, 0],
  ['a bare LF ending the request line', `GET /xuth/user HTTP/1.1\n${H}\r\n`, 0],
  ['a bare CR ending the request line', `GET /xuth/user HTTP/1.1\r${H}\r\n`, 0],
  ['a space before the CRLF of the request line', `GET /xuth/user HTTP/1.1 \r\n${H}\r\n`, 0],
  ['no version', `GET /xuth/user\r\n${H}\r\n`, 0],
  // Versions.
  ['HTTP/0.9', `GET /xuth/user HTTP/0.9\r\n${H}\r\n`, 0],
  ['HTTP/1.2', `GET /xuth/user HTTP/1.2\r\n${H}\r\n`, 0],
  ['HTTP/2.0', `GET /xuth/user HTTP/2.0\r\n${H}\r\n`, 0],
  ['HTTP/1.10', `GET /xuth/user HTTP/1.10\r\n${H}\r\n`, 0],
  ['http/1.1 in lower case', `GET /xuth/user http/1.1\r\n${H}\r\n`, 0],
  ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 0],
  // Pipelining and connection state.
  ['a request after Connection: close', post('content-length: 1\r\nconnection: close\r\n', 'a') + smuggled, 1],
  ['a request after an HTTP/1.0 one', `GET /xuth/user HTTP/1.0\r\n\r\n${smuggled}`, 1],
  ['a request after a chunked one', te('', '0\r\n\r\n') + smuggled, 2],
  ['Upgrade requested', `GET /xuth/user HTTP/1.1\r\n${H}connection: upgrade\r\nupgrade: h2c\r\n\r\n${smuggled}`, 0],
  ['an unknown expectation', post('content-length: 1\r\nexpect: 200-ok\r\n', 'a'), 0],
];

describe('the auth listener refuses whatever llhttp refuses, and frames the rest alike', () => {
  it.each(TABLE)('%s', async (_, text, expected) => {
    const outcome = await both(Buffer.from(text, 'latin1'));
    expect(violation(outcome)).toBe('');
    expect(outcome.ours.length).toBe(expected);
  });

  it('seeded mutations of real broker calls', async () => {
    const seed = Number(process.env.WIRE_DIFF_SEED ?? Date.now() % 2 ** 31);
    const cases = Number(process.env.WIRE_DIFF_CASES ?? 3000);
    console.log(`auth-wire-llhttp: ${cases} mutations, seed ${seed} (replay with WIRE_DIFF_SEED=${seed})`);
    const random = mulberry32(seed);
    const failures: string[] = [];
    const tally = { bothAccept: 0, bothRefuse: 0, oursStricter: 0 };
    const batch = 24;
    for (let start = 0; start < cases; start += batch) {
      const inputs = Array.from({ length: Math.min(batch, cases - start) }, () => mutate(random));
      const outcomes = await Promise.all(inputs.map((bytes) => both(bytes)));
      for (const [i, outcome] of outcomes.entries()) {
        const broken = violation(outcome);
        if (broken !== '') failures.push(`${broken}\n  input: ${JSON.stringify(inputs[i]!.toString('latin1'))}`);
        else if (outcome.ours.length === outcome.llhttp.length) outcome.ours.length > 0 ? tally.bothAccept++ : tally.bothRefuse++;
        else tally.oursStricter++;
      }
    }
    console.log(`auth-wire-llhttp: framed alike ${tally.bothAccept}, both refused ${tally.bothRefuse}, refused by the listener only ${tally.oursStricter}`);
    expect(failures.slice(0, 5), `seed ${seed}: ${failures.length} violation(s)`).toEqual([]);
    // The mutations must reach both outcomes, or they test nothing.
    expect(tally.bothAccept).toBeGreaterThan(cases / 20);
    expect(tally.bothRefuse).toBeGreaterThan(cases / 20);
  }, 120_000);
});

// --- Mutations ----------------------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes and strings that sit on the framing's edges. */
const PIECES = [
  '\r',
  '\n',
  '\r\n',
  '\r\n\r\n',
  ' ',
  '\t',
  '\x0b',
  '\x00',
  '\x7f',
  '\x80',
  '\xe9',
  '\xff',
  ':',
  ';',
  ',',
  '=',
  '"',
  '\\',
  '0',
  '1',
  'a',
  'F',
  '-',
  '+',
  'transfer-encoding: chunked\r\n',
  'Transfer-Encoding:\tchunked\r\n',
  'transfer-encoding: chunked, identity\r\n',
  'content-length: 0\r\n',
  'content-length: 5\r\n',
  'connection: close\r\n',
  'expect: 100-continue\r\n',
  'host: y\r\n',
  '0\r\n\r\n',
  ';ext=1',
  ';q="x y"',
  'GET /xuth/topic HTTP/1.1\r\nhost: y\r\n\r\n',
  ' HTTP/1.0',
  'HTTP/1.1',
];

/** A broker call rewritten with a chunked body, cut at random, with or without extensions. */
function chunkedForm(random: () => number, call: string): string {
  const split = call.indexOf('\r\n\r\n');
  const head = call.slice(0, split).replace(/\r\ncontent-length: \d+/i, '\r\ntransfer-encoding: chunked');
  const body = call.slice(split + 4);
  let out = `${head}\r\n\r\n`;
  for (let at = 0; at < body.length; ) {
    const n = 1 + Math.floor(random() * Math.min(40, body.length - at));
    out += `${n.toString(16)}${random() < 0.2 ? ';e=1' : ''}\r\n${body.slice(at, at + n)}\r\n`;
    at += n;
  }
  return `${out}0\r\n\r\n`;
}

function mutate(random: () => number): Buffer {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const posts = brokerCalls.filter((c) => c.startsWith('POST'));
  let text = pick(brokerCalls);
  if (random() < 0.35) text = chunkedForm(random, pick(posts));
  if (random() < 0.3) text += random() < 0.5 ? pick(brokerCalls) : chunkedForm(random, pick(posts));
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (text.length + 1));
    const op = random();
    if (op < 0.35) text = text.slice(0, at) + pick(PIECES) + text.slice(at);
    else if (op < 0.55) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 4));
    else if (op < 0.75) text = text.slice(0, at) + String.fromCharCode(Math.floor(random() * 256)) + text.slice(at + 1);
    else if (op < 0.85) {
      // Repeat a line (a second Host, Content-Length, Transfer-Encoding, …).
      const lines = text.split('\r\n');
      const n = 1 + Math.floor(random() * Math.max(1, lines.length - 2));
      lines.splice(n, 0, lines[Math.min(n, lines.length - 1)]!);
      text = lines.join('\r\n');
    } else if (op < 0.92) {
      const end = Math.min(text.length, at + 1 + Math.floor(random() * 12));
      text = text.slice(0, at) + (random() < 0.5 ? text.slice(at, end).toUpperCase() : text.slice(at, end).toLowerCase()) + text.slice(end);
    } else {
      // A Content-Length off by a little.
      text = text.replace(/content-length: (\d+)/i, (_, n: string) => `content-length: ${Math.max(0, Number(n) + Math.floor(random() * 7) - 3)}`);
    }
  }
  return Buffer.from(text, 'latin1');
}
