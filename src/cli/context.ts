import type { ApiKeyDetail, ApiKey as ApiKeyListed, AuditEvent, Organization } from '../http/admin/api-types.js';
import type { AdminClient } from './client.js';
import { CliFailure } from './errors.js';

/** The process around a command, so that tests can run commands without one. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM (ends `audit --follow`). */
  signal: AbortSignal;
}

export interface Ctx {
  client: AdminClient;
  io: Io;
  json: boolean;
  /** Human output (not printed with --json). */
  print(text: string): void;
  /** The JSON answer of a --json run: exactly this on stdout. */
  printJson(value: unknown): void;
  /** Organizations, fetched once per run. */
  orgs(): Promise<Organization[]>;
}

export type { AuditEvent, Organization };
/** A key as lists answer it, or as the detail does (with `connection`). */
export type ApiKey = ApiKeyListed & { connection?: ApiKeyDetail['connection'] | null };

export function makeCtx(client: AdminClient, io: Io, json: boolean): Ctx {
  let orgs: Promise<Organization[]> | undefined;
  return {
    client,
    io,
    json,
    print: (text) => void (json ? undefined : io.stdout(text)),
    printJson: (value) => io.stdout(`${JSON.stringify(value, null, 2)}\n`),
    orgs: () => (orgs ??= client.all<Organization>('/api/v1/admin/organizations')),
  };
}

export async function orgBySlug(ctx: Ctx, slug: string): Promise<Organization> {
  const org = (await ctx.orgs()).find((o) => o.slug === slug);
  if (org === undefined) throw new CliFailure(`not found: no organization with slug "${slug}"`);
  return org;
}

export async function slugOf(ctx: Ctx, orgId: string | null): Promise<string | null> {
  if (orgId === null) return null;
  return (await ctx.orgs()).find((o) => o.id === orgId)?.slug ?? orgId;
}

export function keyStatus(k: Pick<ApiKey, 'isActive' | 'expiresAt'>, now = Date.now()): string {
  if (!k.isActive) return 'revoked';
  if (k.expiresAt !== null && Date.parse(k.expiresAt) <= now) return 'expired';
  return 'active';
}
