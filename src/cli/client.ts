// The admin API as the CLI sees it: one request function that turns every way a call can go
// wrong (unreachable, timeout, 401, 404, envelope errors, non-JSON) into a one-line CliFailure.
import { CliFailure } from './errors.js';

export interface ClientOptions {
  baseUrl: string;
  token: string | undefined;
  timeoutMs: number;
}

export interface RequestOptions {
  orgId?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
}

interface Envelope {
  code?: unknown;
  message?: unknown;
  details?: unknown;
}

export class AdminClient {
  readonly baseUrl: string;

  constructor(private readonly opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    if (!this.opts.token) throw new CliFailure('unauthorized: VOKE_AUTH_TOKEN is not set');
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, 'user-agent': 'voke-auth-cli' };
    if (o.orgId) headers['x-org-id'] = o.orgId;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      throw this.transportFailure(err);
    }
    const text = await res.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.ok) {
      if (parsed === undefined) throw new CliFailure(`unexpected answer from ${this.baseUrl}: HTTP ${res.status} without JSON`);
      return parsed as T;
    }
    throw this.httpFailure(method, path, res.status, parsed as Envelope | undefined);
  }

  /** Every page of a paged list route ({data, meta:{totalPages}}). */
  async all<T>(path: string, o: RequestOptions = {}): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const r = await this.request<{ data: T[]; meta: { totalPages: number } }>('GET', path, { ...o, query: { ...o.query, page, limit: 100 } });
      out.push(...r.data);
      if (page >= r.meta.totalPages || r.data.length === 0) return out;
    }
  }

  private transportFailure(err: unknown): CliFailure {
    const e = err as { name?: string; cause?: { code?: string; message?: string } };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
      return new CliFailure(`server unreachable: no answer from ${this.baseUrl} within ${Math.round(this.opts.timeoutMs / 1000)} s`);
    }
    const why = e?.cause?.code ?? e?.cause?.message ?? (err instanceof Error ? err.message : String(err));
    return new CliFailure(`server unreachable: cannot connect to ${this.baseUrl} (${why})`);
  }

  private httpFailure(method: string, path: string, status: number, env: Envelope | undefined): CliFailure {
    const code = typeof env?.code === 'string' ? env.code : undefined;
    const message = typeof env?.message === 'string' ? env.message : `HTTP ${status}`;
    if (code === undefined) return new CliFailure(`unexpected answer from ${this.baseUrl}: HTTP ${status}`);
    if (status === 401) return new CliFailure('unauthorized: the server refused VOKE_AUTH_TOKEN');
    if (status === 403) return new CliFailure(`forbidden: ${message} (a super-admin token from ADMIN_TOKENS is needed)`);
    if (code === 'NOT_FOUND') {
      return new CliFailure(`not found: this server has no route ${method} ${path.split('?')[0]} (an older voke-auth?)`);
    }
    if (status === 404) return new CliFailure(`not found: ${message}`, [], code);
    if (code === 'VALIDATION_ERROR') return new CliFailure(`invalid request: ${message}${issuesOf(env?.details)}`);
    return new CliFailure(`${code.toLowerCase().replace(/_/g, ' ')}: ${message}`);
  }
}

function issuesOf(details: unknown): string {
  const issues = (details as { issues?: { path?: unknown; message?: unknown }[] } | undefined)?.issues;
  if (!Array.isArray(issues) || issues.length === 0) return '';
  return ` (${issues.map((i) => `${String(i.path ?? '') || 'body'}: ${String(i.message ?? '')}`).join('; ')})`;
}
