#!/usr/bin/env node
// The `voke-auth` command. In the repo it runs the TypeScript source through tsx (no build
// step); where the source or tsx is absent but the compiled output exists (a production image
// built to dist/), it runs that.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const source = new URL('src/cli/main.ts', root);
const compiled = new URL('dist/cli/main.js', root);

let entry;
if (existsSync(fileURLToPath(source))) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    entry = source;
  } catch {
    // tsx not installed (production dependencies only): fall back to the compiled output.
  }
}
if (entry === undefined && existsSync(fileURLToPath(compiled))) entry = compiled;
if (entry === undefined) {
  process.stderr.write('voke-auth: cannot run: neither src/cli/main.ts with tsx nor dist/cli/main.js is present\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main();
