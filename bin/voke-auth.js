#!/usr/bin/env node
// The `voke-auth` command. In the repo it runs the TypeScript source through tsx (no build
// step); where only the compiled output exists (the production image's dist/), it runs that.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const source = new URL('src/cli/main.ts', root);
const compiled = new URL('dist/cli/main.js', root);

let entry;
if (existsSync(fileURLToPath(source))) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = source;
} else if (existsSync(fileURLToPath(compiled))) {
  entry = compiled;
} else {
  process.stderr.write('voke-auth: neither src/cli/main.ts nor dist/cli/main.js found\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main();
