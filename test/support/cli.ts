// Runs the voke-auth command as a process (bin/voke-auth.js, as `npx voke-auth` would).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_BIN = fileURLToPath(new URL('../../bin/voke-auth.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  input?: string;
}

/** Environment of a CLI run: the parent's, minus any VOKE_AUTH_* it may have, plus `env`. */
function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VOKE_AUTH_')) out[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export function startCli(args: string[], opts: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { env: cliEnv(opts.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end(opts.input ?? '');
  return child;
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const child = startCli(args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The result of a run that must succeed; else an error with its exit code and stderr. */
export function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

/** A runner bound to one service and token; records every stderr for secret scans. */
export function cliFor(adminUrl: string, token: string) {
  const stderrs: string[] = [];
  const cli = async (args: string[], opts: CliOptions = {}) => {
    const r = await runCli(args, { ...opts, env: { VOKE_AUTH_URL: adminUrl, VOKE_AUTH_TOKEN: token, ...opts.env } });
    stderrs.push(r.stderr);
    return r;
  };
  return { cli, stderrs };
}
