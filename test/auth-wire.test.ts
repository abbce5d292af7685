// The auth listener's HTTP/1.1 framing (src/http/auth/wire.ts), as a table: bytes in, events out.
// No sockets: test/auth-listener.test.ts drives the same through real TCP connections.
import { describe, expect, it } from 'vitest';
import { MAX_HEAD_BYTES, parseHead, RequestReader, type WireEvent } from '../src/http/auth/wire.js';

const LIMIT = 100;

/** Every event the bytes give, fed in the given pieces (strings as Latin-1: one char, one byte). */
function read(...pieces: (string | Buffer)[]): WireEvent[] {
  const reader = new RequestReader({ maxBodyBytes: LIMIT });
  const events: WireEvent[] = [];
  for (const piece of pieces) {
    reader.push(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
    for (let e = reader.next(); e !== undefined; e = reader.next()) events.push(e);
  }
  return events;
}

const post = (body: string, extra = '') => `POST /auth/user HTTP/1.1\r\nhost: x\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const chunked = (...chunks: string[]) =>
  `POST /auth/user HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n${chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
const req = (fields: Partial<Extract<WireEvent, { kind: 'request' }>>) => ({
  kind: 'request',
  method: 'POST',
  target: '/auth/user',
  body: '',
  tooLarge: false,
  http10: false,
  keepAlive: true,
  headers: undefined,
  ...fields,
});

describe('RequestReader', () => {
  it.each([
    ['a Content-Length body', [post('username=a&password=b')], [req({ body: 'username=a&password=b' })]],
    ['a GET without a body', ['GET /auth/vhost?username=a HTTP/1.1\r\nhost: x\r\n\r\n'], [req({ method: 'GET', target: '/auth/vhost?username=a' })]],
    ['a body cut anywhere', [post('username=a').slice(0, 20), post('username=a').slice(20, 50), post('username=a').slice(50)], [req({ body: 'username=a' })]],
    ['a head cut inside CRLF CRLF', ['GET / HTTP/1.1\r\nhost: x\r\n\r', '\n'], [req({ method: 'GET', target: '/' })]],
    ['two pipelined requests in one piece', [post('a=1') + post('b=2')], [req({ body: 'a=1' }), req({ body: 'b=2' })]],
    ['empty lines before a request', [`\r\n\r\n${post('a=1')}`], [req({ body: 'a=1' })]],
    ['UTF-8 in the body', [Buffer.from(post('username=ä'), 'utf8')], [req({ body: 'username=ä' })]],
    ['a chunked body', [chunked('username=a', '&password=b')], [req({ body: 'username=a&password=b' })]],
    [
      'a chunked body with extensions',
      ['POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y;q="a \\"b"\r\nabc\r\n0;z\r\n\r\n'],
      [req({ target: '/x', body: 'abc' })],
    ],
    ['a chunked body in 1-byte chunks', [chunked(...'username=a&password=b'.split(''))], [req({ body: 'username=a&password=b' })]],
    ['Content-Length with OWS before, spaces after', ['POST /auth/user HTTP/1.1\r\nhost: x\r\ncontent-length:\t 3  \r\n\r\na=1'], [req({ body: 'a=1' })]],
    ['a chunked body cut everywhere', chunked('username=a', '&b').split(''), [req({ body: 'username=a&b' })]],
    ['a Content-Length body over the limit: read past, marked', [post('x'.repeat(LIMIT + 1)) + post('a=1')], [req({ tooLarge: true }), req({ body: 'a=1' })]],
    ['a chunked body over the limit, in pieces', [chunked('x'.repeat(60), 'y'.repeat(60)), post('a=1')], [req({ tooLarge: true }), req({ body: 'a=1' })]],
    ['a body of exactly the limit', [post('x'.repeat(LIMIT))], [req({ body: 'x'.repeat(LIMIT) })]],
    ['Connection: close', [post('a=1', 'Connection: close\r\n')], [req({ body: 'a=1', keepAlive: false })]],
    ['Connection with several tokens', [post('a=1', 'connection: upgrade, CLOSE\r\n')], [req({ body: 'a=1', keepAlive: false })]],
    ['HTTP/1.0 closes by default (and needs no Host)', ['GET / HTTP/1.0\r\n\r\n'], [req({ method: 'GET', target: '/', http10: true, keepAlive: false })]],
    ['HTTP/1.0 with keep-alive', ['GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], [req({ method: 'GET', target: '/', http10: true })]],
    [
      'Expect: 100-continue before the body',
      [post('a=1', 'expect: 100-continue\r\n').replace(/a=1$/, ''), 'a=1'],
      [{ kind: 'continue' }, req({ body: 'a=1' })],
    ],
    ['Expect: 100-continue with the body already there', [post('a=1', 'expect: 100-continue\r\n')], [req({ body: 'a=1' })]],
  ] as [string, (string | Buffer)[], unknown[]][])('%s', (_, pieces, expected) => {
    expect(read(...pieces)).toEqual(expected);
  });

  it.each([
    ['a request line with two spaces', 'GET  / HTTP/1.1\r\nhost: x\r\n\r\n'],
    ['an unknown version', 'GET / HTTP/2.0\r\nhost: x\r\n\r\n'],
    ['a control character in the target', 'GET /a\x01b HTTP/1.1\r\nhost: x\r\n\r\n'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nhost: x\r\nhost : x\r\n\r\n'],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nhost: x\r\nx: a\r\n b\r\n\r\n'],
    ['a bare LF inside a header value', 'GET / HTTP/1.1\r\nhost: x\r\nx: a\nb: c\r\n\r\n'],
    ['a non-numeric Content-Length', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1x\r\n\r\n'],
    ['a negative Content-Length', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n'],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab'],
    ['Content-Length beside Transfer-Encoding', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a transfer coding other than chunked', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n'],
    ['chunked in HTTP/1.0', 'POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a chunk size that is not hex', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'],
    ['a chunk without its CRLF', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n1\r\naXY'],
    ['a repeated, equal Content-Length', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\na'],
    ['a tab after the Content-Length value', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\t\r\n\r\na'],
    ['a tab after chunked', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\t\r\n\r\n0\r\n\r\n'],
    ['two Transfer-Encoding fields', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n'],
    ['two Host fields', 'GET / HTTP/1.1\r\nhost: x\r\nhost: y\r\n\r\n'],
    ['an unknown method', 'BREW / HTTP/1.1\r\nhost: x\r\n\r\n'],
    ['a byte over 0x7f in the target', 'GET /\xe9 HTTP/1.1\r\nhost: x\r\n\r\n'],
    ['DEL in a header value', 'GET / HTTP/1.1\r\nhost: x\x7f\r\n\r\n'],
    [
      'a trailer field after the last chunk',
      'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\nGET /auth/topic HTTP/1.1\r\nhost: x\r\n\r\n',
    ],
    ['a bare LF in a chunk extension', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;\nxxx\r\nabc\r\n0\r\n\r\n'],
    ['a bare LF after a chunk size', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n'],
    ['an empty chunk extension', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n'],
    ['a space before a chunk extension', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3 ;a\r\nabc\r\n0\r\n\r\n'],
    ['a space before a chunk size', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n a\r\n'],
    ['a tab after a chunk size', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\na\t\r\n'],
  ])('%s: 400, then nothing more', (_, bytes) => {
    expect(read(bytes, post('a=1'))).toEqual([{ kind: 'error', status: 400 }]);
  });

  it('an expectation other than 100-continue: 417', () => {
    expect(read('POST / HTTP/1.1\r\nhost: x\r\nexpect: 200-ok\r\ncontent-length: 0\r\n\r\n')).toEqual([{ kind: 'error', status: 417 }]);
  });

  it('keeps the header fields asked for a path, and only for it', () => {
    const reader = new RequestReader({ maxBodyBytes: LIMIT, keepHeaders: new Map([['/auth/rest', ['x-api-key', 'x-forwarded-for']]]) });
    reader.push(
      Buffer.from('GET /auth/rest?a HTTP/1.1\r\nHost: x\r\nX-API-Key:  k1 \r\nx-forwarded-for: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nother: o\r\n\r\n'),
    );
    expect(reader.next()).toEqual(req({ method: 'GET', target: '/auth/rest?a', headers: { 'x-api-key': 'k1', 'x-forwarded-for': '1.1.1.1, 2.2.2.2' } }));
    reader.push(Buffer.from('GET /auth/user HTTP/1.1\r\nhost: x\r\nx-api-key: k1\r\n\r\n'));
    expect(reader.next()).toEqual(req({ method: 'GET', target: '/auth/user' }));
  });

  it('holds one buffer for a chunked body, however it is cut', () => {
    // 8,191 bytes in 1-byte chunks: the body buffer grows by doubling up to 8 KiB, no more.
    const reader = new RequestReader({ maxBodyBytes: 8 * 1024 });
    reader.push(Buffer.from('POST /auth/user HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n'));
    expect(reader.next()).toBeUndefined();
    for (let i = 0; i < 8191; i++) {
      reader.push(Buffer.from('1\r\nx\r\n'));
      expect(reader.next()).toBeUndefined();
    }
    const held = (reader as unknown as { body: Buffer }).body;
    expect(held.length).toBe(8 * 1024);
    reader.push(Buffer.from('0\r\n\r\n'));
    expect(reader.next()).toEqual(req({ body: 'x'.repeat(8191) }));
  });

  it('a head over the limit: 431, whole or still incomplete', () => {
    const long = `GET / HTTP/1.1\r\nhost: x\r\nx: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n`;
    expect(read(`${long}\r\n`)).toEqual([{ kind: 'error', status: 431 }]);
    expect(read(long)).toEqual([{ kind: 'error', status: 431 }]);
  });

  it('a head seen before on the connection reads the same (remembered parse), whatever follows it', () => {
    // The same head again and again (as a broker sends it), two heads alternating, and one that
    // differs from a remembered one in a single byte (Connection: close, a forbidden field).
    const bodies = ['a=1', 'b=2', 'c=333', 'd=4', 'e=5', 'f=666', 'g=7'];
    expect(read(...bodies.map((b) => post(b)))).toEqual(bodies.map((body) => req({ body })));
    expect(read(post('a=1') + post('a=1', 'Connection: close\r\n'))).toEqual([req({ body: 'a=1' }), req({ body: 'a=1', keepAlive: false })]);
    expect(read(post('a=1'), post('a=1').replace('host: x', 'host: x\r\nhost: y'))).toEqual([req({ body: 'a=1' }), { kind: 'error', status: 400 }]);
    expect(read(post('a=1'), post('a=1').replace('content-length', 'content-length: 3\r\ncontent-length'))).toEqual([
      req({ body: 'a=1' }),
      { kind: 'error', status: 400 },
    ]);
  });

  it('remembers a few heads, never one that carries the header fields a route keeps', () => {
    const reader = new RequestReader({ maxBodyBytes: LIMIT, keepHeaders: new Map([['/auth/rest', ['x-api-key']]]) });
    const memo = reader as unknown as { memoHeads: string[] };
    for (let n = 0; n < 10; n++) {
      reader.push(Buffer.from(post('a=1', `x-n: ${n}\r\n`)));
      expect(reader.next()).toEqual(req({ body: 'a=1' }));
    }
    expect(memo.memoHeads).toHaveLength(4);
    expect(memo.memoHeads.at(-1)).toContain('x-n: 9');
    for (const key of ['k1', 'k2']) {
      reader.push(Buffer.from(`GET /auth/rest HTTP/1.1\r\nhost: x\r\nx-api-key: ${key}\r\n\r\n`));
      expect(reader.next()).toEqual(req({ method: 'GET', target: '/auth/rest', headers: { 'x-api-key': key } }));
    }
    expect(memo.memoHeads.some((h) => h.includes('x-api-key'))).toBe(false);
  });

  it('says when it is between requests', () => {
    const reader = new RequestReader({ maxBodyBytes: LIMIT });
    expect(reader.idle).toBe(true);
    reader.push(Buffer.from(post('a=1').slice(0, 10)));
    expect(reader.next()).toBeUndefined();
    expect(reader.idle).toBe(false);
    reader.push(Buffer.from(post('a=1').slice(10)));
    expect(reader.next()).toEqual(req({ body: 'a=1' }));
    expect(reader.idle).toBe(true);
  });
});

describe('parseHead', () => {
  it('reads the framing headers case-insensitively, with optional whitespace', () => {
    expect(parseHead('PUT /p?q HTTP/1.1\r\nHOST: x\r\nContent-LENGTH:\t7 \r\nEXPECT: 100-Continue\r\nX-Other: y')).toEqual({
      method: 'PUT',
      target: '/p?q',
      http10: false,
      keepAlive: true,
      length: 7,
      expectContinue: true,
      headers: undefined,
    });
  });
});
