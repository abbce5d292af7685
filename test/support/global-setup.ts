// Starts the one PostgreSQL the test run uses: DATABASE_URL if set, else a
// container when a Docker engine answers, else embedded PostgreSQL in a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.DATABASE_URL) {
    project.provide('pgAdminUrl', process.env.DATABASE_URL);
    return async () => {};
  }
  if (await dockerAnswers()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_PASSWORD: 'test' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    project.provide('pgAdminUrl', `postgres://postgres:test@${container.getHost()}:${container.getMappedPort(5432)}/postgres`);
    return async () => void (await container.stop());
  }
  const dir = mkdtempSync(join(tmpdir(), 'voke-auth-test-pg-'));
  const cluster = await startEmbeddedPostgres(dir, undefined, { temporary: true });
  project.provide('pgAdminUrl', cluster.url);
  return async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
