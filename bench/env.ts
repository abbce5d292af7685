// The bench's settings from the environment (BENCH_*), refused loudly when malformed.

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

export function envList<T extends string>(name: string, known: readonly T[]): T[] {
  const raw = process.env[name];
  if (!raw) return [...known];
  const list = raw.split(',').map((s) => s.trim()) as T[];
  for (const v of list) if (!known.includes(v)) throw new Error(`${name}: unknown "${v}" (known: ${known.join(', ')})`);
  return list;
}
