// The key table's one setting, read here until it moves into src/config (owned elsewhere).

/** Database lookups per second and instance for keys that are not in the table. */
export const MISS_LOOKUPS_ENV = 'AUTH_MISS_LOOKUPS_PER_SECOND';
export const DEFAULT_MISS_LOOKUPS_PER_SECOND = 50;

export function missLookupsPerSecond(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[MISS_LOOKUPS_ENV];
  if (raw === undefined || raw === '') return DEFAULT_MISS_LOOKUPS_PER_SECOND;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new Error(`${MISS_LOOKUPS_ENV} must be a whole number from 1 to 100000`);
  }
  return n;
}
