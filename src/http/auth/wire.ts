// HTTP/1.1 request framing for the auth listener (RFC 9112), without I/O: bytes in, whole
// requests out. The hot path reads requests from plain TCP sockets with this instead of node:http,
// whose per-request machinery (an IncomingMessage and a ServerResponse stream, their events and
// ticks) cost more than the answer itself (bench/RESULTS.md, "The auth listener on node:net").
//
// It is a security boundary: a proxy or load balancer in front that frames a message differently
// could smuggle a request past it. So it accepts nothing node's own parser (llhttp) refuses, and
// refuses some of what llhttp tolerates; test/auth-wire-llhttp.test.ts holds it there, byte for
// byte against a node:http server. docs/auth-listener.md lists the rules.
//
// What it takes: requests with a Content-Length body, a chunked body, or none; pipelining;
// `Expect: 100-continue`. What it refuses, with an error the connection answers before it closes:
// a request line or header field outside the strict grammar below, a head over MAX_HEAD_BYTES,
// a missing or repeated Host (HTTP/1.1), a repeated Content-Length or Transfer-Encoding, both at
// once, any transfer coding but `chunked`, chunk extensions outside their grammar, trailer fields,
// an Upgrade field, an expectation other than 100-continue (417). A body over the reader's limit is read and thrown
// away, and the request is still handed out (marked `tooLarge`) so that it is answered `deny`.

/** Request line and headers together; node:http's default limit is 16 KiB as well. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** A chunk-size line (with extensions) longer than this is not a client we serve. */
const MAX_CHUNK_LINE_BYTES = 1024;
/** A chunked body's buffer starts this small and doubles up to the limit: memory follows what was sent. */
const FIRST_BODY_BUFFER_BYTES = 256;
/**
 * The heads a connection's reader remembers, parsed (RequestReader#recall): a broker sends the
 * same few heads over and over (they differ in Content-Length at most), and a head equal byte
 * for byte to one parsed before parses the same. Only heads up to HEAD_MEMO_MAX_BYTES, so a
 * connection holds ~2 KiB more at most, all of it bytes it sent.
 */
const HEAD_MEMO_ENTRIES = 4;
const HEAD_MEMO_MAX_BYTES = 512;

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
  /**
   * The header fields the reader was asked to keep for this request's path (ReaderOptions
   * `keepHeaders`), by lower-case name, repeated fields joined with ", "; undefined for other paths.
   */
  headers: Record<string, string> | undefined;
}

export interface WireError {
  kind: 'error';
  status: 400 | 417 | 431;
}

/** The client waits for `100 Continue` before it sends the body. */
export const CONTINUE = { kind: 'continue' } as const;

export type WireEvent = WireRequest | WireError | typeof CONTINUE;

export interface ReaderOptions {
  /** A longer body is read past and the request marked `tooLarge`. */
  maxBodyBytes: number;
  /**
   * Path (the target before `?`) → lower-case names of the header fields to hand out with its
   * requests. Paths not listed get none, and cost nothing for it.
   */
  keepHeaders?: ReadonlyMap<string, readonly string[]>;
}

interface Head {
  method: string;
  target: string;
  http10: boolean;
  keepAlive: boolean;
  /** -1: chunked; otherwise the Content-Length (0 without one). */
  length: number;
  expectContinue: boolean;
  headers: Record<string, string> | undefined;
}

const EMPTY = Buffer.alloc(0);
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
/**
 * `METHOD SP request-target SP HTTP/1.x`. The methods an HTTP API is called with (llhttp takes
 * these and more); a target in origin form (`/…`; llhttp also takes `*` and absolute URLs) of
 * visible ASCII only (llhttp refuses controls, DEL and bytes over 0x7f there too).
 */
const REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) (\/[\x21-\x7e]*) HTTP\/1\.([01])$/;
/**
 * The header lines from `lastIndex` (sticky) to the end: a token name right before the colon, a
 * value of HTAB, visible ASCII, SP and obs-text only (so no bare CR or LF, no DEL, no line folding).
 */
const HEADER_LINES = new RegExp(`(?:${TOKEN}+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r\\n)*${TOKEN}+:[\\t\\x20-\\x7e\\x80-\\xff]*$`, 'y');
/**
 * A chunk-size line without its CRLF: hex digits right at the start, then extensions
 * `;name` or `;name=value` (a token or a quoted string) with no whitespace anywhere. RFC 9112
 * allows whitespace around `;` and `=`; llhttp does not, and neither do we.
 */
const CHUNK_LINE = new RegExp(`^([0-9A-Fa-f]{1,8})(?:;${TOKEN}+(?:=(?:${TOKEN}+|"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x20-\\x7e])*"))?)*$`);
/** More digits than any body we would read; also keeps the number exact. */
const MAX_LENGTH_DIGITS = 15;

/** `s` without SP/HTAB at either end (a slice only when there is something to cut). */
function trimOws(s: string): string {
  let from = 0;
  let to = s.length;
  while (from < to && (s.charCodeAt(from) === 32 || s.charCodeAt(from) === 9)) from++;
  while (to > from && (s.charCodeAt(to - 1) === 32 || s.charCodeAt(to - 1) === 9)) to--;
  return from === 0 && to === s.length ? s : s.slice(from, to);
}

function hasToken(list: string, token: string): boolean {
  // The common case, one value and nothing around it (`keep-alive`, `close`), without splitting.
  if (list.length === token.length && list.toLowerCase() === token) return true;
  for (const part of list.split(',')) if (trimOws(part).toLowerCase() === token) return true;
  return false;
}

/** `head` holds `name` (lower case letters and `-`) at `at`, in any case. Names are tokens already. */
function nameIs(head: string, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if ((head.charCodeAt(at + i) | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

/** Where the leading SP/HTAB of a field value ends. */
function skipOws(head: string, from: number, to: number): number {
  while (from < to && (head.charCodeAt(from) === 32 || head.charCodeAt(from) === 9)) from++;
  return from;
}

/** Where a field value ends without its trailing spaces (SP only: llhttp refuses a tab after a framing value). */
function trimSpaces(head: string, from: number, to: number): number {
  while (to > from && head.charCodeAt(to - 1) === 32) to--;
  return to;
}

/** A Content-Length value between `from` and `to`: digits, OWS before, spaces after; -1 if not. */
function lengthValue(head: string, from: number, to: number): number {
  from = skipOws(head, from, to);
  to = trimSpaces(head, from, to);
  if (from === to || to - from > MAX_LENGTH_DIGITS) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const digit = head.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/** A Transfer-Encoding value that is exactly `chunked` (any case), OWS before, spaces after. */
function isChunked(head: string, from: number, to: number): boolean {
  from = skipOws(head, from, to);
  to = trimSpaces(head, from, to);
  return to - from === 7 && nameIs(head, from, 'chunked');
}

/**
 * Request line and header fields (without the final CRLF CRLF), or the status to refuse them
 * with. Every line is checked; only the fields that frame the request are read (and those the
 * caller asked to keep for the path).
 */
export function parseHead(head: string, keepHeaders?: ReadonlyMap<string, readonly string[]>): Head | 400 | 417 {
  const firstEnd = head.indexOf('\r\n');
  const line = REQUEST_LINE.exec(firstEnd === -1 ? head : head.slice(0, firstEnd));
  if (line === null) return 400;
  const target = line[2]!;
  const http10 = line[3] === '0';
  const fieldsStart = firstEnd === -1 ? head.length : firstEnd + 2;
  if (fieldsStart < head.length) {
    HEADER_LINES.lastIndex = fieldsStart;
    if (!HEADER_LINES.test(head)) return 400;
  }
  let wanted: readonly string[] | undefined;
  let headers: Record<string, string> | undefined;
  if (keepHeaders !== undefined && keepHeaders.size > 0) {
    const q = target.indexOf('?');
    wanted = keepHeaders.get(q === -1 ? target : target.slice(0, q));
    if (wanted !== undefined) headers = {};
  }

  let contentLength = -1;
  let chunked = false;
  let hosts = 0;
  let connection = '';
  let expectContinue = false;
  for (let at = fieldsStart; at < head.length; ) {
    const eol = head.indexOf('\r\n', at);
    const end = eol === -1 ? head.length : eol;
    const colon = head.indexOf(':', at);
    switch (colon - at) {
      case 4:
        if (nameIs(head, at, 'host')) hosts++;
        break;
      case 14:
        if (nameIs(head, at, 'content-length')) {
          // Two of them, even equal, are refused: llhttp does, and a proxy might take either.
          if (contentLength !== -1) return 400;
          contentLength = lengthValue(head, colon + 1, end);
          if (contentLength === -1) return 400;
        }
        break;
      case 17:
        if (nameIs(head, at, 'transfer-encoding')) {
          if (chunked || !isChunked(head, colon + 1, end)) return 400;
          chunked = true;
        }
        break;
      case 10:
        if (nameIs(head, at, 'connection')) {
          const value = trimOws(head.slice(colon + 1, end));
          connection = connection === '' ? value : `${connection},${value}`;
        }
        break;
      case 7:
        // A protocol switch: llhttp stops reading HTTP after such a request (and node:http then
        // reads the rest as the new protocol's). This listener speaks HTTP/1.1 only.
        if (nameIs(head, at, 'upgrade')) return 400;
        break;
      case 6:
        if (nameIs(head, at, 'expect')) {
          if (trimOws(head.slice(colon + 1, end)).toLowerCase() !== '100-continue') return 417;
          expectContinue = true;
        }
        break;
    }
    if (wanted !== undefined) {
      for (let w = 0; w < wanted.length; w++) {
        const name = wanted[w]!;
        if (name.length !== colon - at || !nameIs(head, at, name)) continue;
        const value = trimOws(head.slice(colon + 1, end));
        headers![name] = headers![name] === undefined ? value : `${headers![name]}, ${value}`;
        break;
      }
    }
    at = end + 2;
  }

  // RFC 9112 §3.2: an HTTP/1.1 request without a Host field, or with more than one, is refused.
  if (hosts > 1 || (hosts === 0 && !http10)) return 400;
  let length = 0;
  if (chunked) {
    // With a Content-Length beside it the framing is ambiguous; HTTP/1.0 has no chunked coding.
    if (http10 || contentLength !== -1) return 400;
    length = -1;
  } else if (contentLength !== -1) {
    length = contentLength;
  }
  const keepAlive = connection === '' ? !http10 : http10 ? hasToken(connection, 'keep-alive') : !hasToken(connection, 'close');
  return { method: line[1]!, target, http10, keepAlive, length, expectContinue, headers };
}

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'last-chunk-end' | 'broken';

/**
 * Reads one connection's requests. `push` the bytes as they arrive, then call `next` until it
 * returns undefined (it needs more bytes). After an error it hands out nothing more: the
 * connection answers the error and closes.
 *
 * What it holds is bounded by what the client sent: the unread bytes (a head of MAX_HEAD_BYTES at
 * most, plus a body within the limit) and, for a chunked body, one buffer for the body so far,
 * however it was cut into chunks.
 */
export class RequestReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private phase: Phase = 'head';
  private head: Head | undefined;
  /** Body bytes still to come: of the Content-Length body, or of the current chunk. */
  private remaining = 0;
  /** A chunked body so far: `body[0, size)`. */
  private body: Buffer = EMPTY;
  private size = 0;
  private tooLarge = false;
  /** 100 Continue was handed out for the request whose body is awaited. */
  private continued = false;
  private readonly maxBodyBytes: number;
  private readonly keepHeaders: ReadonlyMap<string, readonly string[]> | undefined;
  /** Heads parsed before on this connection and what they parsed to (see HEAD_MEMO_ENTRIES), newest last. */
  private memoHeads: string[] = [];
  private memoParsed: Head[] = [];
  /** unreadText(): undefined until asked for after `buf` changed. */
  private text: string | undefined;
  private textBase = 0;

  constructor(options: ReaderOptions) {
    this.maxBodyBytes = options.maxBodyBytes;
    this.keepHeaders = options.keepHeaders;
  }

  push(chunk: Buffer): void {
    if (this.phase === 'broken') return;
    this.buf = this.pos === this.buf.length ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
    this.text = undefined;
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
    const event = this.read();
    if (event === undefined) this.release();
    return event;
  }

  /**
   * Waiting for more bytes: keep none of the socket's buffer but the unread part (a read buffer
   * can be much larger than the bytes left in it).
   */
  private release(): void {
    if (this.pos === 0) return;
    this.text = undefined;
    if (this.pos === this.buf.length) this.buf = EMPTY;
    else {
      const rest = Buffer.allocUnsafeSlow(this.buf.length - this.pos);
      this.buf.copy(rest, 0, this.pos);
      this.buf = rest;
    }
    this.pos = 0;
  }

  private read(): WireEvent | undefined {
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
          // The line ends at the first LF, which must follow a CR: a bare LF is refused, not
          // read past (the known desync of `3;\nxxx\r\n`).
          const lf = this.buf.indexOf(10, this.pos);
          if (lf === -1) return this.buf.length - this.pos > MAX_CHUNK_LINE_BYTES ? this.fail(400) : undefined;
          if (lf === this.pos || this.buf[lf - 1] !== 13 || lf - this.pos > MAX_CHUNK_LINE_BYTES) return this.fail(400);
          const line = CHUNK_LINE.exec(this.buf.toString('latin1', this.pos, lf - 1));
          if (line === null) return this.fail(400);
          this.pos = lf + 1;
          this.remaining = parseInt(line[1]!, 16);
          this.phase = this.remaining === 0 ? 'last-chunk-end' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.remaining, this.buf.length - this.pos);
          if (take === 0) return undefined;
          this.keep(this.pos, this.pos + take);
          this.pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.phase = 'chunk-end';
          break;
        }
        case 'chunk-end':
        case 'last-chunk-end': {
          // After a chunk's data, and after the last chunk: CRLF. Trailer fields are refused
          // (the broker sends none; llhttp would take some that a proxy reads otherwise).
          if (this.buf.length - this.pos < 2) return undefined;
          if (this.buf[this.pos] !== 13 || this.buf[this.pos + 1] !== 10) return this.fail(400);
          this.pos += 2;
          if (this.phase === 'last-chunk-end') return this.finish();
          this.phase = 'chunk-size';
          break;
        }
        case 'broken':
          return undefined;
      }
    }
  }

  /** A whole head (and, for a Content-Length body within the limit, the whole request), or null to go on. */
  private readHead(): WireEvent | undefined | null {
    const text = this.unreadText();
    let at = this.pos - this.textBase;
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    while (text.charCodeAt(at) === 13 && text.charCodeAt(at + 1) === 10) at += 2;
    this.pos = this.textBase + at;
    const endAt = text.indexOf('\r\n\r\n', at);
    if (endAt === -1) return text.length - at > MAX_HEAD_BYTES ? this.fail(431) : undefined;
    if (endAt - at > MAX_HEAD_BYTES) return this.fail(431);
    const end = this.textBase + endAt;
    const head = this.recall(text, at, endAt);
    if (typeof head === 'number') return this.fail(head);
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
      return request(head, head.length === 0 ? '' : this.buf.toString('utf8', bodyStart, this.pos), false);
    }
    this.pos = bodyStart;
    this.head = head;
    this.size = 0;
    this.tooLarge = head.length > this.maxBodyBytes;
    this.remaining = head.length;
    this.phase = head.length === -1 ? 'chunk-size' : 'length';
    // The phase has moved on: this head is not read again, so one 100 Continue at most.
    return head.expectContinue ? CONTINUE : null;
  }

  /**
   * parseHead, or what it answered for the same head before on this connection. Heads that keep
   * header fields (a REST route's X-API-Key) are never remembered: they are parsed every time.
   */
  private recall(text: string, from: number, to: number): Head | 400 | 417 {
    const small = to - from <= HEAD_MEMO_MAX_BYTES;
    if (small) {
      const seen = text.slice(from, to);
      const heads = this.memoHeads;
      for (let i = heads.length - 1; i >= 0; i--) if (heads[i] === seen) return this.memoParsed[i]!;
    }
    // A string of its own, not a slice of `text`: what is kept of it (the target, remembered
    // heads) must not hold on to everything received with it.
    const fresh = this.buf.toString('latin1', this.textBase + from, this.textBase + to);
    const head = parseHead(fresh, this.keepHeaders);
    if (typeof head !== 'number' && head.headers === undefined && small) {
      if (this.memoHeads.length === HEAD_MEMO_ENTRIES) {
        this.memoHeads.shift();
        this.memoParsed.shift();
      }
      this.memoHeads.push(fresh);
      this.memoParsed.push(head);
    }
    return head;
  }

  /**
   * The unread bytes as latin1 text (`text[i]` is `buf[textBase + i]`), made once per received
   * chunk: searching it stays in V8, where a Buffer's indexOf and toString each cross into C++.
   * Only looked at while reading a head; forgotten whenever `buf` changes.
   */
  private unreadText(): string {
    if (this.text === undefined) {
      this.text = this.buf.toString('latin1', this.pos);
      this.textBase = this.pos;
    }
    return this.text;
  }

  /** Appends `buf[from, to)` to the chunked body, in one buffer that grows by doubling. */
  private keep(from: number, to: number): void {
    if (this.tooLarge) return;
    const size = this.size + (to - from);
    if (size > this.maxBodyBytes) {
      this.tooLarge = true;
      this.body = EMPTY;
      return;
    }
    if (size > this.body.length) {
      // Not from the shared pool: a small pooled slice would keep its whole 8 KiB slab alive.
      const grown = Buffer.allocUnsafeSlow(Math.min(this.maxBodyBytes, Math.max(FIRST_BODY_BUFFER_BYTES, this.body.length * 2, size)));
      this.body.copy(grown, 0, 0, this.size);
      this.body = grown;
    }
    this.buf.copy(this.body, this.size, from, to);
    this.size = size;
  }

  private finish(): WireRequest {
    const head = this.head!;
    const body = this.tooLarge || this.size === 0 ? '' : this.body.toString('utf8', 0, this.size);
    const out = request(head, body, this.tooLarge);
    this.head = undefined;
    this.body = EMPTY;
    this.size = 0;
    this.tooLarge = false;
    this.continued = false;
    this.phase = 'head';
    return out;
  }

  private fail(status: 400 | 417 | 431): WireError {
    this.phase = 'broken';
    this.buf = EMPTY;
    this.text = undefined;
    this.pos = 0;
    this.body = EMPTY;
    return { kind: 'error', status };
  }
}

function request(head: Head, body: string, tooLarge: boolean): WireRequest {
  return { kind: 'request', method: head.method, target: head.target, body, tooLarge, http10: head.http10, keepAlive: head.keepAlive, headers: head.headers };
}
