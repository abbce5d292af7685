import { readFile } from 'node:fs/promises';
import type { MintResult, RotateResult } from '../../http/admin/api-types.js';
import type { Command } from '../command.js';
import { type ApiKey, type Ctx, keyStatus, orgBySlug, slugOf } from '../context.js';
import { CliFailure, oneLine, UsageError } from '../errors.js';
import { resolveKey, searchKeys } from '../resolve.js';
import { type Cell, fields, table } from '../table.js';

// The revoke-leaked and import routes take 1 to 1,000 keys per call, in a body of at most
// 64 KiB: longer lists go in several calls, each within both bounds.
const MAX_KEYS_PER_CALL = 1000;
const MAX_BODY_BYTES = 60_000;
/** The longest password a login hashes (docs/architecture.md, "Keys"): a longer line cannot be a key of the service. */
const MAX_KEY_BYTES = 512;

/** `items` in order, cut into calls of at most MAX_KEYS_PER_CALL whose JSON stays under MAX_BODY_BYTES. */
export function batches<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item), 'utf8') + 1;
    if (current.length > 0 && (current.length >= MAX_KEYS_PER_CALL || bytes + size > MAX_BODY_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function list(value: string | boolean | undefined): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function str(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

async function keyRows(ctx: Ctx, keys: ApiKey[]): Promise<Cell[][]> {
  return Promise.all(
    keys.map(async (k) => [k.id, k.keyPrefix, await slugOf(ctx, k.organizationId), k.name, k.partnerId, keyStatus(k), k.expiresAt, k.lastUsedAt]),
  );
}
const KEY_COLUMNS = ['ID', 'PREFIX', 'ORG', 'NAME', 'PARTNER', 'STATUS', 'EXPIRES', 'LAST USED'];

async function printKey(ctx: Ctx, k: ApiKey): Promise<void> {
  if (ctx.json) return ctx.printJson(k);
  const org = await slugOf(ctx, k.organizationId);
  ctx.print(
    fields([
      ['id', k.id],
      ['prefix', k.keyPrefix],
      ['organization', `${org} (${k.organizationId})`],
      ['name', k.name],
      ['partner id', k.partnerId],
      ['status', keyStatus(k)],
      ['scopes', k.scopes.join(', ')],
      ['allowed ips', k.allowedIps.length ? k.allowedIps.join(', ') : 'any'],
      ['vhost', k.vhost ?? (k.connection === null ? 'none (REST-only key: no AMQP access)' : '/ (legacy)')],
      ...(k.connection ? ([['amqp uri', k.connection.uri]] as [string, string][]) : []),
      ...(k.previousKeyPrefix ? ([['previous prefix', `${k.previousKeyPrefix} (valid until ${k.previousKeyExpiresAt})`]] as [string, string][]) : []),
      ['expires at', k.expiresAt ?? 'never'],
      ['last used at', k.lastUsedAt ?? 'never'],
      ['created at', k.createdAt],
      ['created by', k.creator?.email ?? k.creator?.name ?? k.createdBy],
      ['updated at', k.updatedAt],
    ]),
  );
}

export const keysMint: Command = {
  name: 'keys mint',
  usage: 'keys mint --org <slug> --name <name> --partner-id <id> --scopes <a,b> [--allowed-ips <cidr,cidr>] [--expires-at <iso>]',
  summary: 'Create an API key; prints the key and signing key ONCE',
  options: {
    org: { type: 'string' },
    name: { type: 'string' },
    'partner-id': { type: 'string' },
    scopes: { type: 'string' },
    'allowed-ips': { type: 'string' },
    'expires-at': { type: 'string' },
  },
  async run(ctx, { values, positionals }) {
    if (positionals.length > 0) throw new UsageError('keys mint takes no arguments');
    for (const o of ['org', 'name', 'partner-id', 'scopes']) if (typeof values[o] !== 'string') throw new UsageError(`--${o} is required`);
    const org = await orgBySlug(ctx, values.org as string);
    const body: Record<string, unknown> = { name: values.name, partnerId: values['partner-id'], scopes: list(values.scopes) };
    if (values['allowed-ips'] !== undefined) body.allowedIps = list(values['allowed-ips']);
    if (values['expires-at'] !== undefined) body.expiresAt = values['expires-at'];
    const r = await ctx.client.request<MintResult>('POST', '/api/v1/partner/api-keys', { orgId: org.id, body });
    if (ctx.json) return ctx.printJson(r);
    const selfTest = r.connection.selfTest;
    // A REST-only key (no vcp:connect) has no AMQP values: only selfTest, `not_applicable`.
    const amqp = 'uri' in r.connection ? r.connection : undefined;
    ctx.print(
      fields([
        ['key', r.key],
        ['signing key', r.signingKey ?? 'none (no vcp:write:* scope)'],
        ['id', r.apiKey.id],
        ['prefix', r.apiKey.keyPrefix],
        ['organization', org.slug],
        ['scopes', r.apiKey.scopes.join(', ')],
        ['expires at', r.apiKey.expiresAt ?? 'never'],
        ['amqp uri', amqp?.uri ?? 'none (no vcp:connect: REST only)'],
        ['username', amqp?.username ?? 'none'],
        ['vhost', amqp?.vhost ?? 'none'],
        ['self-test', 'durationMs' in selfTest ? `${selfTest.status} (${selfTest.durationMs} ms)` : selfTest.status],
      ]),
    );
    ctx.io.stderr('The key and signing key are shown once and cannot be retrieved again: store them now.\n');
  },
};

export const keysList: Command = {
  name: 'keys list',
  usage: 'keys list [--org <slug>] [--prefix <p>] [--partner-id <id>] [--active]',
  summary: 'List keys of one organization, or search across organizations (--active: not revoked)',
  options: { org: { type: 'string' }, prefix: { type: 'string' }, 'partner-id': { type: 'string' }, active: { type: 'boolean' } },
  async run(ctx, { values, positionals }) {
    if (positionals.length > 0) throw new UsageError('keys list takes no arguments');
    const org = typeof values.org === 'string' ? await orgBySlug(ctx, values.org) : undefined;
    const prefix = str(values.prefix);
    const partnerId = str(values['partner-id']);
    // The server filters (admin search route), across organizations unless --org is given.
    const keys = await searchKeys(ctx, {
      ...(org ? { organizationId: org.id } : {}),
      ...(prefix !== undefined ? { prefix } : {}),
      ...(partnerId !== undefined ? { partnerId } : {}),
      ...(values.active === true ? { isActive: true } : {}),
    });
    if (ctx.json) return ctx.printJson(keys);
    ctx.print(table(KEY_COLUMNS, await keyRows(ctx, keys)));
  },
};

export const keysShow: Command = {
  name: 'keys show',
  usage: 'keys show <id|prefix> [--org <slug>]',
  summary: 'One key (never its secret)',
  options: { org: { type: 'string' } },
  async run(ctx, { values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('give exactly one key id or prefix');
    const found = await resolveKey(ctx, positionals[0]!, str(values.org));
    // The search answers without connection values; the key's own detail carries them.
    const detail = await ctx.client.request<ApiKey>('GET', `/api/v1/partner/api-keys/${found.id}`, { orgId: found.organizationId });
    await printKey(ctx, detail);
  },
};

export const keysUpdate: Command = {
  name: 'keys update',
  usage: 'keys update <id|prefix> [--org <slug>] [--name <name>] [--allowed-ips <cidr,cidr | "">]',
  summary: 'Rename a key or change its IP allowlist (an empty list lifts the restriction)',
  options: { org: { type: 'string' }, name: { type: 'string' }, 'allowed-ips': { type: 'string' } },
  async run(ctx, { values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('give exactly one key id or prefix');
    const body: Record<string, unknown> = {};
    if (typeof values.name === 'string') body.name = values.name;
    if (typeof values['allowed-ips'] === 'string') body.allowedIps = list(values['allowed-ips']);
    if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give --name and/or --allowed-ips');
    const key = await resolveKey(ctx, positionals[0]!, str(values.org));
    const updated = await ctx.client.request<ApiKey>('PATCH', `/api/v1/partner/api-keys/${key.id}`, { orgId: key.organizationId, body });
    await printKey(ctx, updated);
  },
};

/** `24h`, `90m`, `30s`, `7d`, or plain seconds: the overlap in seconds. */
export function parseOverlap(text: string): number | undefined {
  const m = /^([0-9]{1,7})([smhd]?)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export const keysRotate: Command = {
  name: 'keys rotate',
  usage: 'keys rotate <id|prefix> [--org <slug>] [--overlap 24h]',
  summary: 'Give a key a new secret in place (same vhost, queues, scopes); prints the new key ONCE',
  details:
    'The previous secret keeps working for --overlap (0 to 7d; s, m, h, d or plain seconds; default 24h);\n' +
    'then it is refused and the connections opened with it are closed. --overlap 0 is the emergency\n' +
    'rotation for a leaked key: the previous secret is refused at once and its connections closed.',
  options: { org: { type: 'string' }, overlap: { type: 'string' } },
  async run(ctx, { values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('give exactly one key id or prefix');
    const body: Record<string, unknown> = {};
    if (values.overlap !== undefined) {
      const seconds = typeof values.overlap === 'string' ? parseOverlap(values.overlap) : undefined;
      if (seconds === undefined || seconds > 604_800) throw new UsageError('--overlap must be a duration from 0 to 7d, e.g. 24h, 90m, 0');
      body.overlapSeconds = seconds;
    }
    const key = await resolveKey(ctx, positionals[0]!, str(values.org));
    const r = await ctx.client.request<RotateResult>('POST', `/api/v1/partner/api-keys/${key.id}/rotate`, { orgId: key.organizationId, body });
    if (ctx.json) return ctx.printJson(r);
    ctx.print(
      fields([
        ['key', r.key],
        ['id', r.apiKey.id],
        ['prefix', r.apiKey.keyPrefix],
        ['previous prefix', r.apiKey.previousKeyPrefix ?? key.keyPrefix],
        ['previous key valid until', r.previousKeyExpiresAt],
        ['amqp uri', r.connection?.uri ?? 'none (no vcp:connect: REST only)'],
        ['vhost', r.connection?.vhost ?? 'none'],
      ]),
    );
    ctx.io.stderr('The new key is shown once and cannot be retrieved again: store it now.\n');
  },
};

interface RevokedKey {
  id: string;
  keyPrefix: string;
  organizationId: string;
}
interface RevokeOutcome {
  revoked: RevokedKey[];
  alreadyRevoked: RevokedKey[];
  unknown: number;
}

async function printRevokeOutcome(ctx: Ctx, r: RevokeOutcome): Promise<void> {
  if (ctx.json) return ctx.printJson(r);
  const rows: Cell[][] = [];
  for (const [status, list] of [
    ['revoked', r.revoked],
    ['already revoked', r.alreadyRevoked],
  ] as const) {
    for (const k of list) rows.push([k.id, k.keyPrefix, await slugOf(ctx, k.organizationId), status]);
  }
  if (rows.length > 0) ctx.print(table(['ID', 'PREFIX', 'ORG', 'STATUS'], rows));
  ctx.print(`${r.revoked.length} revoked, ${r.alreadyRevoked.length} already revoked, ${r.unknown} unknown\n`);
}

export const keysRevoke: Command = {
  name: 'keys revoke',
  usage: 'keys revoke <id|prefix>... [--org <slug>]  |  keys revoke --leaked  (keys on standard input, one per line)',
  summary: 'Revoke keys by id or prefix, or leaked keys by the key itself',
  details:
    'A prefix must match exactly one key; otherwise the candidates are listed and nothing is revoked.\n' +
    'With --leaked, every line of standard input is a full key; it is hashed by the server as a login\n' +
    'would be and revoked if found. Exit 1 when any of them is unknown to the service.',
  options: { org: { type: 'string' }, leaked: { type: 'boolean' } },
  async run(ctx, { values, positionals }) {
    if (values.leaked === true) {
      if (positionals.length > 0 || values.org !== undefined)
        throw new UsageError('--leaked reads the keys from standard input; give no ids, prefixes or --org');
      return revokeLeaked(ctx);
    }
    if (positionals.length === 0) throw new UsageError('give at least one key id or prefix (or --leaked)');
    // Resolve every reference before revoking anything: one ambiguous prefix changes nothing.
    const keys: ApiKey[] = [];
    for (const ref of positionals) {
      const k = await resolveKey(ctx, ref, str(values.org));
      if (!keys.some((x) => x.id === k.id)) keys.push(k);
    }
    const outcome: RevokeOutcome = { revoked: [], alreadyRevoked: [], unknown: 0 };
    for (const k of keys) {
      await ctx.client.request('DELETE', `/api/v1/partner/api-keys/${k.id}`, { orgId: k.organizationId });
      (k.isActive ? outcome.revoked : outcome.alreadyRevoked).push({ id: k.id, keyPrefix: k.keyPrefix, organizationId: k.organizationId });
    }
    await printRevokeOutcome(ctx, outcome);
  },
};

async function revokeLeaked(ctx: Ctx): Promise<number> {
  const lines = (await ctx.io.readStdin())
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const keys = [...new Set(lines)];
  if (keys.length === 0) throw new UsageError('--leaked: no keys on standard input (one per line)');
  const askable = keys.filter((k) => Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES);
  const total: RevokeOutcome = { revoked: [], alreadyRevoked: [], unknown: keys.length - askable.length };
  for (const batch of batches(askable)) {
    let r: RevokeOutcome;
    try {
      r = await ctx.client.request<RevokeOutcome>('POST', '/api/v1/admin/api-keys/revoke-leaked', { body: { keys: batch } });
    } catch (err) {
      // The server never echoes a key, but this message must not carry one whatever it says.
      if (err instanceof CliFailure) throw new CliFailure(oneLine(err.message, batch), err.extraLines, err.code);
      throw err;
    }
    total.revoked.push(...r.revoked);
    total.alreadyRevoked.push(...r.alreadyRevoked);
    total.unknown += r.unknown;
  }
  await printRevokeOutcome(ctx, total);
  if (total.unknown > 0) {
    ctx.io.stderr(`${total.unknown} of ${keys.length} keys are not keys of this service (nothing revoked for them)\n`);
    return 1;
  }
  return 0;
}

interface ImportedKey extends RevokedKey {
  name: string;
}
interface ImportOutcome {
  imported: ImportedKey[];
  existing: ImportedKey[];
}

export const keysImport: Command = {
  name: 'keys import',
  usage: 'keys import <file.json>',
  summary: 'Import legacy keys given by their SHA-256 hash (onto vhost "/"); idempotent on the hash',
  details:
    'The file holds an array of keys, or {"keys": [...]}; each key as the import route takes it:\n' +
    '  {"keySha256": "<64 hex>", "organizationSlug": "acme", "name": "...", "partnerId": "...",\n' +
    '   "scopes": ["vcp:connect"], "allowedIps": [], "expiresAt": null, "createdAt": "2024-03-01T00:00:00Z",\n' +
    '   "keyPrefix": "voke_a1b2" (optional), "allowedPlantIds": [...] (optional)}\n' +
    'Keys already imported (same SHA-256) are reported as existing and left unchanged: running it again is safe.\n' +
    'Each call of up to 1,000 keys is all or nothing; a long file is sent in several calls.',
  options: {},
  async run(ctx, { positionals }) {
    if (positionals.length !== 1) throw new UsageError('give exactly one file');
    const file = positionals[0]!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new CliFailure(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliFailure(`${file} is not valid JSON`);
    }
    const entries = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(entries)) throw new CliFailure(`${file} must hold an array of keys or {"keys": [...]}`);
    if (entries.length === 0) throw new CliFailure(`${file} holds no keys`);
    const total: ImportOutcome = { imported: [], existing: [] };
    let sent = 0;
    for (const batch of batches(entries)) {
      let r: ImportOutcome;
      try {
        r = await ctx.client.request<ImportOutcome>('POST', '/api/v1/admin/api-keys/import', { body: { keys: batch } });
      } catch (err) {
        if (err instanceof CliFailure && sent > 0) {
          throw new CliFailure(
            `${err.message} — in keys ${sent + 1} to ${sent + batch.length} of the file (body.keys.N counts from key ${sent + 1}); ` +
              `the ${sent} keys before them were imported, and importing the file again is safe`,
            err.extraLines,
            err.code,
          );
        }
        throw err;
      }
      total.imported.push(...r.imported);
      total.existing.push(...r.existing);
      sent += batch.length;
    }
    if (ctx.json) return ctx.printJson(total);
    for (const [section, list] of [
      ['imported', total.imported],
      ['existing (unchanged)', total.existing],
    ] as const) {
      if (list.length === 0) continue;
      ctx.print(`${section}:\n`);
      ctx.print(
        table(['ID', 'PREFIX', 'ORG', 'NAME'], await Promise.all(list.map(async (k) => [k.id, k.keyPrefix, await slugOf(ctx, k.organizationId), k.name]))),
      );
    }
    ctx.print(`${total.imported.length} imported, ${total.existing.length} existing (unchanged)\n`);
  },
};
