import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the pure and fast tests (policy, keys, wire and form parsing, CLI output,
// secrets, metrics, the key table's races, the import graph), no database and no broker, so no
// global setup. A file belongs here only if it starts neither; `npm test` runs them too.
export default defineConfig({
  test: {
    include: [
      'test/policy.test.ts',
      'test/keys.test.ts',
      'test/auth-wire.test.ts',
      'test/auth-form.test.ts',
      'test/cli-format.test.ts',
      'test/secrets.test.ts',
      'test/metrics-latency.test.ts',
      'test/key-table-races.test.ts',
      'test/allowlist-enforcer.test.ts',
      'test/import-cycles.test.ts',
      'test/broker-nodes.test.ts',
    ],
    testTimeout: 30_000,
  },
});
