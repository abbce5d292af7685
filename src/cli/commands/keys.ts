import { readFile } from 'node:fs/promises';
import type { Command } from '../command.js';
import { keyStatus, orgBySlug, slugOf, type ApiKey, type Ctx } from '../context.js';
import { CliFailure, UsageError, oneLine } from '../errors.js';
import { keysOfOrg, resolveKey, searchKeys } from '../resolve.js';
import { fields, table, type Cell } from '../table.js';

const LEAKED_BATCH = 1000; // the revoke-leaked route takes 1 to 1,000 keys per call

function list(value: string | boolean | undefined): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
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
      ['vhost', k.vhost ?? '/ (legacy)'],
      ['expires at', k.expiresAt ?? 'never'],
      ['last used at', k.lastUsedAt ?? 'never'],
      ['created at', k.createdAt],
      ['created by', k.creator?.email ?? k.creator?.name ?? k.createdBy],
      ['updated at', k.updatedAt],
    ]),
  );
}

interface MintResult {
  key: string;
  signingKey: string | null;
  apiKey: ApiKey;
  /** A REST-only key (no vcp:connect) has no AMQP values: only selfTest, `not_applicable`. */
  connection: { uri?: string; host?: string; port?: number; username?: string; vhost?: string; selfTest: { status: string; durationMs?: number } };
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
    ctx.print(
      fields([
        ['key', r.key],
        ['signing key', r.signingKey ?? 'none (no vcp:write:* scope)'],
        ['id', r.apiKey.id],
        ['prefix', r.apiKey.keyPrefix],
        ['organization', org.slug],
        ['scopes', r.apiKey.scopes.join(', ')],
        ['expires at', r.apiKey.expiresAt ?? 'never'],
        ['amqp uri', r.connection.uri ?? 'none (no vcp:connect: REST only)'],
        ['username', r.connection.username ?? 'none'],
        ['vhost', r.connection.vhost ?? 'none'],
        ['self-test', selfTest.durationMs !== undefined ? `${selfTest.status} (${selfTest.durationMs} ms)` : selfTest.status],
      ]),
    );
    ctx.io.stderr('The key and signing key are shown once and cannot be retrieved again: store them now.\n');
  },
};

export const keysList: Command = {
  name: 'keys list',
  usage: 'keys list [--org <slug>] [--prefix <p>] [--partner-id <id>] [--active]',
  summary: 'List keys of one organization, or search across organizations',
  options: { org: { type: 'string' }, prefix: { type: 'string' }, 'partner-id': { type: 'string' }, active: { type: 'boolean' } },
  async run(ctx, { values, positionals }) {
    if (positionals.length > 0) throw new UsageError('keys list takes no arguments');
    const prefix = str(values.prefix);
    const partnerId = str(values['partner-id']);
    const active = values.active === true;
    let keys: ApiKey[];
    if (typeof values.org === 'string') {
      const org = await orgBySlug(ctx, values.org);
      keys = await keysOfOrg(ctx, org);
    } else {
      keys = await searchKeys(ctx, { prefix, partnerId, ...(active ? { isActive: true } : {}) });
    }
    // Filters are applied here too, so the answer is the same whichever route served it.
    keys = keys.filter(
      (k) => (prefix === undefined || k.keyPrefix.startsWith(prefix)) && (partnerId === undefined || k.partnerId === partnerId) && (!active || k.isActive),
    );
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
    await printKey(ctx, await resolveKey(ctx, positionals[0]!, str(values.org)));
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
  for (const [status, list] of [['revoked', r.revoked], ['already revoked', r.alreadyRevoked]] as const) {
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
      if (positionals.length > 0 || values.org !== undefined) throw new UsageError('--leaked reads the keys from standard input; give no ids, prefixes or --org');
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
  const lines = (await ctx.io.readStdin()).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const keys = [...new Set(lines)];
  if (keys.length === 0) throw new UsageError('--leaked: no keys on standard input (one per line)');
  const total: RevokeOutcome = { revoked: [], alreadyRevoked: [], unknown: 0 };
  for (let i = 0; i < keys.length; i += LEAKED_BATCH) {
    const batch = keys.slice(i, i + LEAKED_BATCH);
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

export const keysImport: Command = {
  name: 'keys import',
  usage: 'keys import <file.json>',
  summary: 'Import legacy keys given by their SHA-256 hash (onto vhost "/"); idempotent on the hash',
  details:
    'The file holds an array of keys, or {"keys": [...]}; each key as the import route takes it:\n' +
    'sha256 (hex), organization slug, name, partnerId, scopes, allowedIps, expiresAt, createdAt.',
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
    const body = Array.isArray(parsed) ? { keys: parsed } : parsed;
    const r = await ctx.client.request<Record<string, unknown>>('POST', '/api/v1/admin/api-keys/import', { body });
    if (ctx.json) return ctx.printJson(r);
    // Whatever lists of keys the answer holds (imported, existing, …), one table each.
    for (const [section, value] of Object.entries(r)) {
      if (Array.isArray(value)) {
        const rows = await Promise.all(
          value.map(async (k: Partial<RevokedKey & { name: string }>) => [k.id, k.keyPrefix, await slugOf(ctx, k.organizationId ?? null), k.name]),
        );
        ctx.print(`${section}: ${value.length}\n`);
        if (rows.length > 0) ctx.print(table(['ID', 'PREFIX', 'ORG', 'NAME'], rows));
      } else {
        ctx.print(`${section}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}\n`);
      }
    }
  },
};
