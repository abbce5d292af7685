// The processes of a bench, both sides of one small protocol. A child (a server under test, a
// stub, the service) prints one JSON line with its `port` (and whatever else the parent needs)
// once it listens, answers a `cpu` line on stdin with `{"cpu": process.cpuUsage()}`, and stops
// on SIGTERM/SIGINT or when its stdin closes (the parent died). Each server runs in a process of
// its own so that the load generator never shares its event loop.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

export interface Child {
  name: string;
  process: ChildProcess;
  /** The child's first JSON line (`port`, and e.g. the service's key). */
  info: Record<string, unknown>;
  /** The child's CPU time so far (user + system, µs), as it reports it. */
  cpu(): Promise<number>;
}

/** Starts bench/<file> under tsx and resolves once it printed its port (at most 180 s). */
export function startChild(name: string, file: string, options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<Child> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', join(BENCH_DIR, file)], {
    cwd: dirname(BENCH_DIR),
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...options.env },
  });
  const cpuWaiters: ((us: number) => void)[] = [];
  const cpu = () =>
    new Promise<number>((resolve) => {
      cpuWaiters.push(resolve);
      child.stdin!.write('cpu\n');
    });
  return new Promise((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      if (started) return;
      child.kill('SIGTERM');
      reject(new Error(`${name} did not start within 180 s`));
    }, 180_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: Record<string, unknown> | undefined;
      try {
        message = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // not ours: passed on below
      }
      const usage = message?.cpu as NodeJS.CpuUsage | undefined;
      if (started && usage && cpuWaiters.length > 0) return cpuWaiters.shift()!(usage.user + usage.system);
      if (!started && typeof message?.port === 'number') {
        started = true;
        clearTimeout(timer);
        return resolve({ name, process: child, info: message, cpu });
      }
      process.stderr.write(`[${name}] ${line}\n`);
    });
  });
}

/** SIGTERM, then SIGKILL if the child is still there after 30 s. */
export function stopChild(child: Child): Promise<void> {
  const p = child.process;
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

/**
 * The child's side: answers the parent's `cpu` lines and calls `stop` on SIGTERM, SIGINT, or
 * when stdin closes or fails (the parent is gone: do not linger).
 */
export function serveParent(stop: () => void): void {
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      if (line === 'cpu') process.stdout.write(`${JSON.stringify({ cpu: process.cpuUsage() })}\n`);
    })
    .on('close', stop);
  process.stdin.on('error', stop);
}
