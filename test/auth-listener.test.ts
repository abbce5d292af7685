// The auth listener's HTTP/1.1 over real TCP connections (node:net, not an HTTP client, so that
// the bytes are exactly what a client could send), in front of a real service and PostgreSQL.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { seedKey, seedOrg } from './support/seed.js';
import { startTestService, TEST_PEPPER } from './support/service.js';

let db: TestDatabase;
let service: Awaited<ReturnType<typeof startTestService>>;
let port: number;
let key: { id: string; key: string; vhost: string };

beforeAll(async () => {
  db = await createTestDatabase();
  const acme = await seedOrg(db.sql, 'acme');
  key = await seedKey(db.sql, Buffer.from(TEST_PEPPER), { orgId: acme });
  service = await startTestService(db.url, { admin: false }); // loads the table, with the key, before it listens
  port = Number(new URL(service.authUrl).port);
});
afterAll(async () => {
  await service?.stop();
  await db?.drop();
});

interface Exchange {
  /** Everything the server sent. */
  text: string;
  /** The server closed the connection (within the wait). */
  closed: boolean;
}

/**
 * Writes the pieces (a pause between them) on one connection, then reads until the server closes
 * it or has been quiet for `quietMs`. `end` half-closes the client side after the last piece.
 */
function exchange(pieces: string[], o: { end?: boolean; quietMs?: number; to?: number } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(o.to ?? port, '127.0.0.1');
    let text = '';
    let quiet: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearTimeout(quiet);
      socket.destroy();
      resolve({ text, closed });
    };
    const rearm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => done(false), o.quietMs ?? 300);
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      rearm();
    });
    socket.on('close', () => done(true));
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const [n, piece] of pieces.entries()) {
        if (n > 0) await new Promise((r) => setTimeout(r, 20));
        socket.write(piece, 'latin1');
      }
      if (o.end) socket.end();
      rearm();
    });
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const post = (path: string, body: string, headers = '') =>
  `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`;
const login = () => post('/auth/user', form({ username: 'acme', password: key.key }));
const vhost = (tags: string) => post('/auth/vhost', form({ username: 'acme', vhost: key.vhost, ip: '10.0.0.1', tags }));

/** The responses in `text`: status line, lower-cased headers and body, read by their Content-Length. */
function responses(text: string): { status: string; headers: Record<string, string>; body: string }[] {
  const out = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    const [status, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = status!.includes(' 100 ') ? 0 : Number(headers['content-length']);
    out.push({ status: status!, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}
const bodies = (text: string) => responses(text).map((r) => `${r.status.split(' ')[1]} ${r.body}`);

describe('the auth listener speaks HTTP/1.1', () => {
  it('answers 200 text/plain with a length and a date, and keeps the connection', async () => {
    const r = await exchange([login()]);
    const [only] = responses(r.text);
    expect(only).toMatchObject({ status: 'HTTP/1.1 200 OK', body: `allow vcp-key-${key.id}` });
    expect(only!.headers['content-type']).toBe('text/plain');
    expect(Number.isNaN(Date.parse(only!.headers.date!))).toBe(false);
    expect(only!.headers.connection).toBeUndefined();
    expect(r.closed).toBe(false);
  });

  it('answers pipelined requests in order, also when one waits for the database', async () => {
    // An id the table does not hold is looked up in the database: that answer comes later.
    const unknown = `vcp-key-${randomUUID()}`;
    const r = await exchange([`${login() + vhost(unknown) + vhost(`vcp-key-${key.id}`)}GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`]);
    expect(bodies(r.text)).toEqual([`200 allow vcp-key-${key.id}`, '200 deny', '200 allow', '200 ok']);
  });

  it('reads a request sent a few bytes at a time', async () => {
    const bytes = login();
    const pieces = [bytes.slice(0, 3), bytes.slice(3, 40), bytes.slice(40, bytes.length - 5), bytes.slice(bytes.length - 5)];
    expect(bodies((await exchange(pieces)).text)).toEqual([`200 allow vcp-key-${key.id}`]);
  });

  it('reads a chunked body', async () => {
    const body = form({ username: 'acme', password: key.key });
    const chunked = `POST /auth/user HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`;
    expect(bodies((await exchange([chunked])).text)).toEqual([`200 allow vcp-key-${key.id}`]);
  });

  it('GET and HEAD read the query; HEAD gets the headers only', async () => {
    const query = form({ username: 'acme', password: key.key });
    const get = await exchange([`GET /auth/user?${query} HTTP/1.1\r\nhost: x\r\n\r\n`]);
    expect(bodies(get.text)).toEqual([`200 allow vcp-key-${key.id}`]);
    const head = await exchange([`HEAD /auth/user?${query} HTTP/1.1\r\nhost: x\r\n\r\n`]);
    expect(head.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head.text).toContain(`content-length: ${`allow vcp-key-${key.id}`.length}\r\n`);
    expect(head.text.endsWith('\r\n\r\n')).toBe(true);
  });

  it('closes after the answer on Connection: close, HTTP/1.0, or the client half-closing', async () => {
    const close = await exchange([login().replace('host: x\r\n', 'host: x\r\nconnection: close\r\n')], { quietMs: 2000 });
    expect(close.closed).toBe(true);
    expect(responses(close.text)[0]!.headers.connection).toBe('close');
    const http10 = await exchange(['GET /healthz HTTP/1.0\r\n\r\n'], { quietMs: 2000 });
    expect(http10).toMatchObject({ closed: true });
    expect(bodies(http10.text)).toEqual(['200 ok']);
    const kept10 = await exchange(['GET /healthz HTTP/1.0\r\nconnection: keep-alive\r\n\r\n']);
    expect(kept10.closed).toBe(false);
    expect(responses(kept10.text)[0]!.headers.connection).toBe('keep-alive');
    const halfClosed = await exchange([login()], { end: true, quietMs: 2000 });
    expect(halfClosed.closed).toBe(true);
    expect(bodies(halfClosed.text)).toEqual([`200 allow vcp-key-${key.id}`]);
  });

  it('sends 100 Continue to a client that waits for it', async () => {
    const full = login().replace('host: x\r\n', 'host: x\r\nexpect: 100-continue\r\n');
    const split = full.indexOf('\r\n\r\n') + 4;
    const r = await exchange([full.slice(0, split), full.slice(split)]);
    expect(bodies(r.text)).toEqual(['100 ', `200 allow vcp-key-${key.id}`]);
  });

  it('denies an oversized body and goes on with the next request on the connection', async () => {
    const r = await exchange([post('/auth/user', `password=${'a'.repeat(20_000)}`) + login()]);
    expect(bodies(r.text)).toEqual(['200 deny', `200 allow vcp-key-${key.id}`]);
  });

  it('answers paths and methods it does not serve', async () => {
    const r = await exchange([`${post('/auth/nope', 'a=1') + post('/other', 'a=1')}DELETE /auth/user HTTP/1.1\r\nhost: x\r\n\r\n`]);
    // Only the broker's four paths answer 200 deny; elsewhere a 2xx would read as "allow" to a REST gateway.
    expect(bodies(r.text)).toEqual(['404 not found', '404 not found', '200 deny']);
  });

  it.each([
    ['a malformed request line', 'HELLO\r\n\r\n', '400'],
    ['a malformed header', 'GET / HTTP/1.1\r\nhost: x\r\nno colon\r\n\r\n', '400'],
    ['a head that never ends', `GET / HTTP/1.1\r\nx: ${'a'.repeat(20_000)}`, '431'],
  ])('%s: %s and the connection is closed', async (_, bytes, status) => {
    const r = await exchange([bytes + login()], { quietMs: 2000 });
    expect(r.closed).toBe(true);
    expect(responses(r.text).map((x) => x.status.split(' ')[1])).toEqual([status]);
  });

  it('a connection that goes away mid-request costs nothing', async () => {
    const r = await exchange([login().slice(0, 30)], { end: true, quietMs: 2000 });
    expect(r).toEqual({ text: '', closed: true });
    expect(bodies((await exchange([login()])).text)).toEqual([`200 allow vcp-key-${key.id}`]);
  });
});

it('stopping the service closes idle keep-alive connections and answers the request under way', async () => {
  const other = await startTestService(db.url, { admin: false });
  const otherPort = Number(new URL(other.authUrl).port);
  await expect.poll(() => other.table.byId(key.id)).toBeDefined();
  // Each socket reaches its state before the stop, whatever the machine's load: the idle one has
  // its answer, the other has sent part of a request.
  const open = async () => {
    const socket = connect(otherPort, '127.0.0.1');
    socket.setEncoding('latin1');
    const seen = { text: '', closed: false };
    socket.on('data', (d: string) => (seen.text += d));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    await new Promise((r) => socket.once('connect', r));
    return { socket, seen, closed: closed.then(() => (seen.closed = true)) };
  };
  const idle = await open();
  idle.socket.write(login(), 'latin1');
  await expect.poll(() => idle.seen.text).toContain('allow');
  const underway = await open();
  const bytes = login();
  underway.socket.write(bytes.slice(0, 20), 'latin1');
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  const stopping = other.stop();
  underway.socket.write(bytes.slice(20), 'latin1');
  await stopping;
  expect(Date.now() - started).toBeLessThan(3000);
  await Promise.all([idle.closed, underway.closed]);
  expect(bodies(idle.seen.text)).toEqual([`200 allow vcp-key-${key.id}`]);
  expect(bodies(underway.seen.text)).toEqual([`200 allow vcp-key-${key.id}`]);
  expect(responses(underway.seen.text)[0]!.headers.connection).toBe('close');
});

it('closes a connection that goes silent, and one whose request drags on, and no other', async () => {
  const quick = await startTestService(db.url, { admin: false, authTimeouts: { idleMs: 300, requestMs: 600, sweepMs: 50 } });
  const to = Number(new URL(quick.authUrl).port);
  try {
    const socket = connect(to, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const closedAfter = (s: typeof socket) => {
      const t0 = Date.now();
      return new Promise<number>((r) => s.once('close', () => r(Date.now() - t0)));
    };
    // Silent after its answer: closed 300–350 ms later.
    socket.resume();
    const silentClosed = closedAfter(socket);
    socket.write(login());
    expect(await silentClosed).toBeLessThan(2000);

    // A byte every 100 ms is never silent for 300 ms, but the request is incomplete after 600 ms.
    const slow = connect(to, '127.0.0.1');
    await new Promise((r) => slow.once('connect', r));
    let received = '';
    slow.on('data', (d) => (received += d));
    const slowClosed = closedAfter(slow);
    const bytes = login();
    let sent = 0;
    const trickle = setInterval(() => sent < bytes.length && slow.write(bytes[sent++]!), 100);
    const after = await slowClosed;
    clearInterval(trickle);
    expect(after).toBeGreaterThanOrEqual(600);
    expect(after).toBeLessThan(3000);
    expect(received).toBe('');

    // A busy keep-alive connection stays: requests 200 ms apart for a second, all answered.
    const busy = connect(to, '127.0.0.1');
    await new Promise((r) => busy.once('connect', r));
    let answers = '';
    busy.setEncoding('latin1');
    busy.on('data', (d: string) => (answers += d));
    for (let i = 0; i < 5; i++) {
      busy.write(login());
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(busy.destroyed).toBe(false);
    expect(bodies(answers)).toEqual(Array(5).fill(`200 allow vcp-key-${key.id}`));
    busy.destroy();
  } finally {
    await quick.stop();
  }
});
