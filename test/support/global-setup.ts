// Starts the one PostgreSQL the test run uses: DATABASE_URL if set, else a container when a
// Docker engine answers, else embedded PostgreSQL in a temp dir.
//
// The run gets a temp folder of its own (TMPDIR for every test worker): whatever a test leaves
// there is named at the end, failing the run, and removed, so `npm test` leaves nothing in the
// system temp folder.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/store/embedded.js';
import { dockerAnswers } from './docker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

/** The run's temp folder; workers started after this inherit TMPDIR. */
function redirectTemp(): { dir: string; leftovers(): string[]; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'voke-test-run-'));
  // As root the embedded database runs as `postgres`, which must pass through (not list) it.
  chmodSync(dir, 0o711);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return {
    dir,
    // tsx-<uid>: tsx's compile cache, made by child processes that run TypeScript; not a leak.
    leftovers: () => readdirSync(dir).filter((name) => !/^tsx-\d+$/.test(name)),
    remove: () => {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const temp = redirectTemp();
  const database = await startDatabase(project);
  return async () => {
    await database.stop();
    if (process.env.KEEP_BROKER_DIR === '1') {
      console.warn(`KEEP_BROKER_DIR=1: the run's temp folder is kept: ${temp.dir}`);
      return;
    }
    const left = temp.leftovers();
    temp.remove();
    if (left.length > 0) {
      // Each test file removes what it made (test/support/temp.ts); these escaped. A throw here
      // is printed but does not change vitest's exit status, so set it as well.
      process.exitCode = 1;
      throw new Error(`tests left ${left.length} entries in the temp folder (removed now): ${left.sort().join(', ')}`);
    }
  };
}

async function startDatabase(project: TestProject): Promise<{ stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    project.provide('pgAdminUrl', process.env.DATABASE_URL);
    return { stop: async () => {} };
  }
  if (await dockerAnswers()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_PASSWORD: 'test' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    project.provide('pgAdminUrl', `postgres://postgres:test@${container.getHost()}:${container.getMappedPort(5432)}/postgres`);
    return { stop: async () => void (await container.stop()) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'voke-auth-test-pg-'));
  const cluster = await startEmbeddedPostgres(dir, undefined, { temporary: true });
  project.provide('pgAdminUrl', cluster.url);
  return {
    stop: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
