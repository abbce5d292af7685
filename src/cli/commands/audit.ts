import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from '../command.js';
import { type AuditEvent, type Ctx, type Organization, orgBySlug, slugOf } from '../context.js';
import { CliFailure, oneLine, UsageError } from '../errors.js';
import { parseKeyRef, resolveKey } from '../resolve.js';
import { table } from '../table.js';

const PAGE = 100;
// Events are stamped with their transaction's start: one that commits late can appear behind
// newer ones. --follow looks this far back on every poll and prints what it has not printed.
const LATE_COMMIT_MS = 60_000;

interface Filter {
  type?: string;
  apiKeyId?: string;
}

function newestFirst(a: AuditEvent, b: AuditEvent): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}

/** Newest events of one org, down to `since` (or `limit` of them when since is undefined). */
async function eventsOf(ctx: Ctx, org: Organization, f: Filter, limit: number, since?: number): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for (let page = 1; ; page++) {
    const r = await ctx.client.request<{ data: AuditEvent[]; meta: { totalPages: number } }>('GET', '/api/v1/partner/audit-events', {
      orgId: org.id,
      query: { page, limit: since === undefined ? limit : PAGE, type: f.type, apiKeyId: f.apiKeyId },
    });
    out.push(...r.data);
    if (since === undefined || page >= r.meta.totalPages) return out;
    const oldest = r.data[r.data.length - 1];
    if (oldest === undefined || Date.parse(oldest.createdAt) < since) return out;
  }
}

async function render(ctx: Ctx, events: AuditEvent[], header: boolean): Promise<string> {
  const rows = await Promise.all(
    events.map(async (e) => [
      e.createdAt,
      e.type,
      await slugOf(ctx, e.organizationId),
      e.apiKeyId,
      e.actorId ?? (e.details.via === 'sql' ? 'sql' : null),
      JSON.stringify(e.details),
    ]),
  );
  const t = table(['TIME', 'TYPE', 'ORG', 'KEY', 'ACTOR', 'DETAILS'], rows);
  return header ? t : t.slice(t.indexOf('\n') + 1);
}

export const audit: Command = {
  name: 'audit',
  usage: 'audit [--org <slug>] [--type <t>] [--key <id|prefix>] [--limit <n>] [--follow]',
  summary: 'The audit log, oldest of the last --limit (default 20) first; --follow keeps printing new events',
  details:
    'Without --org or --key, the events of every organization. With --json: a JSON array; with\n' +
    '--follow --json: one JSON event per line. --follow ends on Ctrl-C (exit 0).',
  options: {
    org: { type: 'string' },
    type: { type: 'string' },
    key: { type: 'string' },
    limit: { type: 'string' },
    follow: { type: 'boolean' },
  },
  async run(ctx, { values, positionals }) {
    if (positionals.length > 0) throw new UsageError('audit takes no arguments');
    const limit = values.limit === undefined ? 20 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > PAGE) throw new UsageError(`--limit is a whole number from 1 to ${PAGE}`);
    const filter: Filter = {};
    if (typeof values.type === 'string') filter.type = values.type;
    let orgs: () => Promise<Organization[]>;
    if (typeof values.key === 'string') {
      const ref = parseKeyRef(values.key);
      const key = ref.kind === 'id' && typeof values.org === 'string' ? undefined : await resolveKey(ctx, values.key, values.org as string | undefined);
      filter.apiKeyId = key?.id ?? (ref.kind === 'id' ? ref.id : undefined);
      const org = typeof values.org === 'string' ? await orgBySlug(ctx, values.org) : (await ctx.orgs()).find((o) => o.id === key?.organizationId);
      if (org === undefined) throw new CliFailure("not found: the key's organization");
      orgs = async () => [org];
    } else if (typeof values.org === 'string') {
      const org = await orgBySlug(ctx, values.org);
      orgs = async () => [org];
    } else {
      orgs = () => ctx.client.all<Organization>('/api/v1/admin/organizations');
    }

    const batches = await Promise.all((await orgs()).map((o) => eventsOf(ctx, o, filter, limit)));
    const first = batches.flat().sort(newestFirst).slice(0, limit).reverse();
    if (values.follow !== true) {
      if (ctx.json) return ctx.printJson(first);
      ctx.print(await render(ctx, first, true));
      return;
    }
    return follow(ctx, orgs, filter, first);
  },
};

async function follow(ctx: Ctx, orgs: () => Promise<Organization[]>, filter: Filter, first: AuditEvent[]): Promise<number> {
  const intervalMs = Number(ctx.io.env.VOKE_AUTH_FOLLOW_INTERVAL_MS ?? 1000);
  const seen = new Map<string, number>(); // id → createdAt (ms)
  let newest = 0;
  const emit = async (events: AuditEvent[], header: boolean) => {
    for (const e of events) {
      const t = Date.parse(e.createdAt);
      seen.set(e.id, t);
      newest = Math.max(newest, t);
    }
    if (ctx.json) for (const e of events) ctx.io.stdout(`${JSON.stringify(e)}\n`);
    else if (events.length > 0 || header) ctx.io.stdout(await render(ctx, events, header));
  };
  await emit(first, true);
  if (newest === 0) newest = Date.now();
  let outage = false;
  while (!ctx.io.signal.aborted) {
    await sleep(intervalMs, undefined, { signal: ctx.io.signal }).catch(() => undefined);
    if (ctx.io.signal.aborted) break;
    const since = newest - LATE_COMMIT_MS;
    try {
      const batches = await Promise.all((await orgs()).map((o) => eventsOf(ctx, o, filter, PAGE, since)));
      outage = false;
      const fresh = batches
        .flat()
        .filter((e) => !seen.has(e.id) && Date.parse(e.createdAt) >= since)
        .sort(newestFirst)
        .reverse();
      await emit(fresh, false);
      for (const [id, t] of seen) if (t < since) seen.delete(id);
    } catch (err) {
      // A restarting service is not the end of a tail; anything else (401, 404) is.
      if (!(err instanceof CliFailure && err.message.startsWith('server unreachable'))) throw err;
      if (!outage) ctx.io.stderr(`${oneLine(err.message)}; retrying\n`);
      outage = true;
    }
  }
  return 0;
}
