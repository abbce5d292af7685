// HTTP/1.1 request framing for the auth listener (RFC 9112), without I/O: bytes in, whole
// requests out. The hot path reads requests from plain TCP sockets with this instead of node:http,
// whose per-request machinery (an IncomingMessage and a ServerResponse stream, their events and
// ticks) cost more than the answer itself (bench/RESULTS.md, "The auth listener on node:net").
//
// What it takes: requests with a Content-Length body, a chunked body, or none; pipelining;
// `Expect: 100-continue`. What it refuses, with an error the connection answers before it closes:
// a malformed request line or header, a head over MAX_HEAD_BYTES, conflicting lengths, any
// transfer coding but `chunked`. A body over the auth limit is read and thrown away, and the
// request is still handed out (marked `tooLarge`) so that it is answered `deny` like any other.

/** Request line and headers together; node:http's default limit is 16 KiB as well. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** A chunk-size line (with extensions) longer than this is not a client we serve. */
const MAX_CHUNK_LINE_BYTES = 1024;

export interface WireRequest {
  kind: 'request';
  method: string;
  /** The request-target as sent: `/auth/user`, `/auth/user?username=…`. */
  target: string;
  /** The body decoded as UTF-8 ("" without one); "" as well when it was too large. */
  body: string;
  /** The body was longer than the reader's limit: it was read and discarded. */
  tooLarge: boolean;
  /** HTTP/1.0 (the answer is still HTTP/1.1; keep-alive must then be said explicitly). */
  http10: boolean;
  /** The connection stays open after the answer. */
  keepAlive: boolean;
  /** Request line and header fields as received (latin1), for headerValues; not parsed further. */
  head: string;
}

export interface WireError {
  kind: 'error';
  status: 400 | 431;
}

/** The client waits for `100 Continue` before it sends the body. */
export const CONTINUE = { kind: 'continue' } as const;

export type WireEvent = WireRequest | WireError | typeof CONTINUE;

interface Head {
  method: string;
  target: string;
  http10: boolean;
  keepAlive: boolean;
  /** -1: chunked; otherwise the Content-Length (0 without one). */
  length: number;
  expectContinue: boolean;
}

const EMPTY = Buffer.alloc(0);
/** `METHOD SP request-target SP HTTP/1.x`: a token, then no controls or spaces in the target. */
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) HTTP\/1\.([01])$/;
/**
 * The header lines from `lastIndex` (sticky) to the end: a token name right before the colon, a
 * value of HTAB, visible ASCII, SP and obs-text only (so no bare CR or LF, no line folding).
 */
const HEADER_LINES = /(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/y;
const HEX = /^[0-9A-Fa-f]{1,8}$/;
/** More digits than any body we would read; also keeps the number exact. */
const MAX_LENGTH_DIGITS = 15;

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

function hasToken(list: string, token: string): boolean {
  for (const part of list.split(',')) if (trimOws(part).toLowerCase() === token) return true;
  return false;
}

/** `head` holds `name` (lower case letters and `-`) at `at`, in any case. Names are tokens already. */
function nameIs(head: string, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if ((head.charCodeAt(at + i) | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

/** A Content-Length value between `from` and `to`: digits with optional whitespace around; -1 if not. */
function lengthValue(head: string, from: number, to: number): number {
  while (from < to && (head.charCodeAt(from) === 32 || head.charCodeAt(from) === 9)) from++;
  while (to > from && (head.charCodeAt(to - 1) === 32 || head.charCodeAt(to - 1) === 9)) to--;
  if (from === to || to - from > MAX_LENGTH_DIGITS) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const digit = head.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/**
 * Request line and header fields (without the final CRLF CRLF), or the status to refuse them
 * with. Every line is checked; only the fields that frame the request are read.
 */
export function parseHead(head: string): Head | 400 {
  const firstEnd = head.indexOf('\r\n');
  const line = REQUEST_LINE.exec(firstEnd === -1 ? head : head.slice(0, firstEnd));
  if (line === null) return 400;
  const http10 = line[3] === '0';
  const fieldsStart = firstEnd === -1 ? head.length : firstEnd + 2;
  if (fieldsStart < head.length) {
    HEADER_LINES.lastIndex = fieldsStart;
    if (!HEADER_LINES.test(head)) return 400;
  }

  let contentLength = -1;
  let transferEncoding: string | undefined;
  let connection = '';
  let expectContinue = false;
  for (let at = fieldsStart; at < head.length; ) {
    const eol = head.indexOf('\r\n', at);
    const end = eol === -1 ? head.length : eol;
    const colon = head.indexOf(':', at);
    switch (colon - at) {
      case 14:
        if (nameIs(head, at, 'content-length')) {
          const value = lengthValue(head, colon + 1, end);
          if (value === -1 || (contentLength !== -1 && contentLength !== value)) return 400;
          contentLength = value;
        }
        break;
      case 17:
        if (nameIs(head, at, 'transfer-encoding')) {
          const value = trimOws(head.slice(colon + 1, end));
          transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        }
        break;
      case 10:
        if (nameIs(head, at, 'connection')) connection += `,${head.slice(colon + 1, end)}`;
        break;
      case 6:
        if (nameIs(head, at, 'expect')) expectContinue = trimOws(head.slice(colon + 1, end)).toLowerCase() === '100-continue';
        break;
    }
    at = end + 2;
  }

  let length = 0;
  if (transferEncoding !== undefined) {
    // Only `chunked` is understood; with a Content-Length beside it the framing is ambiguous.
    if (http10 || contentLength !== -1 || transferEncoding.toLowerCase() !== 'chunked') return 400;
    length = -1;
  } else if (contentLength !== -1) {
    length = contentLength;
  }
  const keepAlive = connection === '' ? !http10 : http10 ? hasToken(connection, 'keep-alive') : !hasToken(connection, 'close');
  return { method: line[1]!, target: line[2]!, http10, keepAlive, length, expectContinue };
}

/**
 * The values of the named fields (lower-case names) in a head as WireRequest.head holds it (the
 * lines parseHead accepted), in the order of `names`: optional whitespace trimmed, a repeated field
 * joined with ", " (RFC 9110 §5.3), undefined when absent. Only a path that needs headers calls
 * it (/auth/rest): the broker's paths never pay for more than the framing fields.
 */
export function headerValues(head: string, names: readonly string[]): (string | undefined)[] {
  const out: (string | undefined)[] = names.map(() => undefined);
  const firstEnd = head.indexOf('\r\n');
  if (firstEnd === -1) return out;
  for (let at = firstEnd + 2; at < head.length; ) {
    const eol = head.indexOf('\r\n', at);
    const end = eol === -1 ? head.length : eol;
    const nameLength = head.indexOf(':', at) - at;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (name.length !== nameLength || !nameIs(head, at, name)) continue;
      const value = trimOws(head.slice(at + nameLength + 1, end));
      out[i] = out[i] === undefined ? value : `${out[i]}, ${value}`;
    }
    at = end + 2;
  }
  return out;
}

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'broken';

/**
 * Reads one connection's requests. `push` the bytes as they arrive, then call `next` until it
 * returns undefined (it needs more bytes). After an error it hands out nothing more: the
 * connection answers the error and closes.
 */
export class RequestReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private phase: Phase = 'head';
  private head: Head | undefined;
  private headText = '';
  /** Body bytes still to come: of the Content-Length body, or of the current chunk. */
  private remaining = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private tooLarge = false;
  /** 100 Continue was handed out for the request whose body is awaited. */
  private continued = false;

  constructor(private readonly maxBodyBytes: number) {}

  push(chunk: Buffer): void {
    if (this.phase === 'broken') return;
    this.buf = this.pos === this.buf.length ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
  }

  /** Bytes received and not yet handed out. */
  get buffered(): number {
    return this.buf.length - this.pos;
  }

  /** No request is under way: between requests, nothing of the next one received. */
  get idle(): boolean {
    return this.phase === 'head' && this.pos === this.buf.length;
  }

  next(): WireEvent | undefined {
    for (;;) {
      switch (this.phase) {
        case 'head': {
          const event = this.readHead();
          if (event !== null) return event;
          break;
        }
        case 'length': {
          // Only a body over the limit gets here (a smaller one is taken whole in readHead).
          const take = Math.min(this.remaining, this.buf.length - this.pos);
          this.pos += take;
          this.remaining -= take;
          if (this.remaining > 0) return undefined;
          return this.finish();
        }
        case 'chunk-size': {
          const eol = this.buf.indexOf('\r\n', this.pos, 'latin1');
          if (eol === -1) return this.buf.length - this.pos > MAX_CHUNK_LINE_BYTES ? this.fail(400) : undefined;
          const line = this.buf.toString('latin1', this.pos, eol);
          const semi = line.indexOf(';');
          const hex = trimOws(semi === -1 ? line : line.slice(0, semi));
          if (!HEX.test(hex)) return this.fail(400);
          this.pos = eol + 2;
          this.remaining = parseInt(hex, 16);
          this.phase = this.remaining === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.remaining, this.buf.length - this.pos);
          if (take === 0) return undefined;
          this.keep(this.buf.subarray(this.pos, this.pos + take));
          this.pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.phase = 'chunk-end';
          break;
        }
        case 'chunk-end': {
          if (this.buf.length - this.pos < 2) return undefined;
          if (this.buf[this.pos] !== 13 || this.buf[this.pos + 1] !== 10) return this.fail(400);
          this.pos += 2;
          this.phase = 'chunk-size';
          break;
        }
        case 'trailers': {
          // Trailer fields are read past, up to the empty line that ends the message.
          const eol = this.buf.indexOf('\r\n', this.pos, 'latin1');
          if (eol === -1) return this.buf.length - this.pos > MAX_HEAD_BYTES ? this.fail(431) : undefined;
          const empty = eol === this.pos;
          this.pos = eol + 2;
          if (empty) return this.finish();
          break;
        }
        case 'broken':
          return undefined;
      }
    }
  }

  /** A whole head (and, for a Content-Length body within the limit, the whole request), or null to go on. */
  private readHead(): WireEvent | undefined | null {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    while (this.buf.length - this.pos >= 2 && this.buf[this.pos] === 13 && this.buf[this.pos + 1] === 10) this.pos += 2;
    const end = this.buf.indexOf('\r\n\r\n', this.pos, 'latin1');
    if (end === -1) return this.buf.length - this.pos > MAX_HEAD_BYTES ? this.fail(431) : undefined;
    if (end - this.pos > MAX_HEAD_BYTES) return this.fail(431);
    const text = this.buf.toString('latin1', this.pos, end);
    const head = parseHead(text);
    if (head === 400) return this.fail(400);
    const bodyStart = end + 4;
    if (head.length >= 0 && head.length <= this.maxBodyBytes) {
      // The common case: the body, if any, is in this buffer or will be; take it whole.
      if (this.buf.length - bodyStart < head.length) {
        if (head.expectContinue && !this.continued) {
          this.continued = true;
          return CONTINUE;
        }
        return undefined;
      }
      this.pos = bodyStart + head.length;
      this.continued = false;
      return request(head, text, head.length === 0 ? '' : this.buf.toString('utf8', bodyStart, this.pos), false);
    }
    this.pos = bodyStart;
    this.head = head;
    this.headText = text;
    this.size = 0;
    this.parts = [];
    this.tooLarge = head.length > this.maxBodyBytes;
    this.remaining = head.length;
    this.phase = head.length === -1 ? 'chunk-size' : 'length';
    // The phase has moved on: this head is not read again, so one 100 Continue at most.
    return head.expectContinue ? CONTINUE : null;
  }

  private keep(part: Buffer): void {
    this.size += part.length;
    if (this.size > this.maxBodyBytes) {
      this.tooLarge = true;
      this.parts = [];
    } else if (!this.tooLarge) {
      // A copy: the socket's buffer is not ours to hold on to.
      this.parts.push(Buffer.from(part));
    }
  }

  private finish(): WireRequest {
    const head = this.head!;
    const body = this.tooLarge || this.parts.length === 0 ? '' : Buffer.concat(this.parts).toString('utf8');
    const out = request(head, this.headText, body, this.tooLarge);
    this.head = undefined;
    this.parts = [];
    this.size = 0;
    this.tooLarge = false;
    this.continued = false;
    this.phase = 'head';
    return out;
  }

  private fail(status: 400 | 431): WireError {
    this.phase = 'broken';
    this.buf = EMPTY;
    this.pos = 0;
    return { kind: 'error', status };
  }
}

function request(head: Head, text: string, body: string, tooLarge: boolean): WireRequest {
  return { kind: 'request', method: head.method, target: head.target, body, tooLarge, http10: head.http10, keepAlive: head.keepAlive, head: text };
}
