// `npm run bench:js`: the auth listener's JavaScript per request, without sockets or a database.
// A request's bytes are handed to the real listener (createAuthServer with the real answers, key
// table, forward-auth route and metrics) through an in-memory socket, and its answer is written
// back to it; the key table is filled from an in-memory source. Beside it, in the same process,
// the bench's bare node:net server's own per-request work on the same socket (find CRLF CRLF, read
// Content-Length, write `allow`). What this leaves out, the kernel's TCP and libuv's reads and
// writes, is the same for both servers: `npm run bench` measures the whole.
//
// Prints ns per request (median of BENCH_ROUNDS=7 rounds of BENCH_REQUESTS=200000) for:
//   topic  a cached /auth/topic publish check as the broker sends it (POST, form body)
//   rest   a cached /auth/rest forward-auth allow as nginx sends it (GET, X-API-Key, X-Forwarded-For)
//   net    the bare node:net server's framing of the topic request
// Noisy like any timing here (±20 % between runs): compare rows of one run.

import { Duplex } from 'node:stream';
import { KeyTable } from '../src/cache/key-table.js';
import { createAnswers } from '../src/http/auth/answers.js';
import { createForwardAuth, REST_PATH } from '../src/http/auth/rest.js';
import { createAuthServer } from '../src/http/auth/server.js';
import { generateApiKey } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hash.js';
import { createRestCheck } from '../src/keys/rest-check.js';
import { createMetrics } from '../src/metrics.js';
import { parseTrustedProxies } from '../src/policy/rest.js';
import { WRITE_SCOPES } from '../src/policy/scopes.js';
import type { AuthKeyRow } from '../src/store/auth-keys.js';
import type { Sql } from '../src/store/db.js';
import { UsageRecorder } from '../src/store/usage.js';
import { envNumber } from './env.js';
import { answerAllow } from './net-baseline-handler.js';

const ROUNDS = Math.floor(envNumber('BENCH_ROUNDS', 7));
const REQUESTS = Math.floor(envNumber('BENCH_REQUESTS', 200_000));

const keyId = '4f9c2b1e-0c1d-4e8a-9b7f-2a3c4d5e6f70';
const vhost = `partner-${keyId}`;
const secret = generateApiKey();
const hasher = new KeyHasher([Buffer.from('bench-pepper-bench-pepper-bench-pepper')]);
const row: AuthKeyRow = {
  id: keyId,
  organizationId: '0b6f1c2e-5d4a-4f3b-8e2d-1a9c8b7d6e5f',
  orgSlug: 'acme',
  partnerId: 'bench',
  vhost,
  isActive: true,
  expiresAt: null,
  scopes: ['vcp:connect', 'vcp:read', ...WRITE_SCOPES],
  allowedIps: [],
  legacyScopeExpansion: false,
  connected: true,
  keyHash: hasher.current(secret),
};
const table = new KeyTable({
  loadAll: async (onRows) => onRows([row]),
  byHashes: async () => undefined,
  byId: async () => undefined,
  byOrganization: async () => [],
  rewriteHash: async () => {},
});
await table.reload();
const metrics = createMetrics();
// Never flushed here (no timer started): the recorder only collects.
const usage = new UsageRecorder(undefined as unknown as Sql);
const answers = createAnswers({ table, hasher, usage, metrics, now: Date.now });
const forward = createForwardAuth(createRestCheck({ table, hasher, usage, metrics, now: Date.now }), parseTrustedProxies(['127.0.0.1'])!);
const listener = createAuthServer(answers, metrics, { routes: new Map([[REST_PATH, forward]]) });

const topicBody = new URLSearchParams({
  username: 'acme',
  vhost,
  resource: 'topic',
  name: 'vcp',
  permission: 'write',
  routing_key: 'acme.command.device.7',
  tags: `vcp-key-${keyId}`,
  'variable_map.username': 'acme',
  'variable_map.vhost': vhost,
}).toString();
const TOPIC = Buffer.from(
  `POST /auth/topic HTTP/1.1\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${topicBody.length}\r\nte: \r\nhost: 127.0.0.1:8080\r\nconnection: keep-alive\r\n\r\n${topicBody}`,
);
const REST = Buffer.from(
  `GET /auth/rest HTTP/1.1\r\nHost: voke_auth\r\nX-Original-URI: /v1/things\r\nX-API-Key: ${secret}\r\nX-Forwarded-For: 203.0.113.7\r\n` +
    'X-Voke-Required-Scopes: vcp:read\r\nX-Voke-Plant-Id: \r\nUser-Agent: autocannon\r\nAccept: */*\r\n\r\n',
);

/** A socket in memory: bytes go in with emit('data'), answers are counted and the last kept. */
class MemorySocket extends Duplex {
  remoteAddress = '127.0.0.1';
  answers = 0;
  last = '';
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.answers++;
    this.last = chunk.toString('latin1');
    done();
  }
}

const cases = {
  topic: { request: TOPIC, connect: (s: MemorySocket) => listener.server.emit('connection', s), expect: /\r\n\r\nallow$/ },
  rest: { request: REST, connect: (s: MemorySocket) => listener.server.emit('connection', s), expect: /^HTTP\/1\.1 200 OK\r\n[\s\S]*x-voke-key-id: / },
  net: { request: TOPIC, connect: answerAllow, expect: /\r\n\r\nallow$/ },
};

const results: Record<string, number[]> = { topic: [], rest: [], net: [] };
for (let round = 0; round <= ROUNDS; round++) {
  for (const [name, c] of Object.entries(cases)) {
    const socket = new MemorySocket();
    c.connect(socket);
    const started = process.hrtime.bigint();
    // A fresh Buffer per request, as a socket read hands over.
    for (let i = 0; i < REQUESTS; i++) socket.emit('data', Buffer.from(c.request));
    const ns = Number(process.hrtime.bigint() - started) / REQUESTS;
    if (socket.answers !== REQUESTS || !c.expect.test(socket.last)) throw new Error(`${name}: ${socket.answers} answers, last ${JSON.stringify(socket.last)}`);
    socket.destroy();
    if (round > 0) results[name]!.push(ns); // round 0 warms the JIT up
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`# bench:js  ${ROUNDS} rounds of ${REQUESTS} requests, node ${process.version}`);
console.log('| request | ns/request (median) | per round | ÷ net |');
console.log('|---|---:|---|---:|');
for (const [name, xs] of Object.entries(results)) {
  console.log(`| ${name} | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(' ')} | ${(median(xs) / median(results.net!)).toFixed(2)} |`);
}
process.exit(0);
