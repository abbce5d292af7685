// Pure parts of the voke-auth command: tables, redaction, key references.
import { describe, expect, it } from 'vitest';
import { batches } from '../src/cli/commands/keys.js';
import { oneLine, redact, UsageError } from '../src/cli/errors.js';
import { parseKeyRef } from '../src/cli/resolve.js';
import { fields, table } from '../src/cli/table.js';
import { generateApiKey } from '../src/keys/format.js';

describe('table', () => {
  it('pads columns to their widest cell, shows empty cells as -, no trailing spaces', () => {
    expect(
      table(
        ['ID', 'NAME', 'X'],
        [
          ['1', 'longer name', null],
          ['22', 'b', ''],
        ],
      ),
    ).toBe('ID  NAME         X\n1   longer name  -\n22  b            -\n');
  });
  it('a record as aligned field/value lines; control characters become spaces', () => {
    expect(
      fields([
        ['id', 'a'],
        ['name', 'x\ny'],
      ]),
    ).toBe('id    a\nname  x y\n');
  });
});

describe('redaction', () => {
  it('hides minted keys, signing keys and any given secret; one line', () => {
    const key = generateApiKey();
    const signing = 'ab'.repeat(32);
    const out = oneLine(`key ${key}\nsigning ${signing} legacy s3cretLegacyKey`, ['s3cretLegacyKey']);
    expect(out).toBe('key [redacted] signing [redacted] legacy [redacted]');
    expect(redact('prefix voke_a1b2 stays')).toBe('prefix voke_a1b2 stays');
  });

  it('hides a given secret in its URL- and form-encoded forms, and URL credentials', () => {
    const legacy = 'legacy key/with+chars';
    const out = redact(`a ${encodeURIComponent(legacy)} b ${new URLSearchParams({ k: legacy }).toString()} c http://ops:pw@host/`, [legacy]);
    expect(out).toBe('a [redacted] b k=[redacted] c http://[redacted]@host/');
  });
});

describe('key references', () => {
  it('a UUID is an id, a short token a prefix, anything longer is refused without echo', () => {
    expect(parseKeyRef('5B0E4A52-3C1D-4D7E-9F00-0123456789AB')).toEqual({ kind: 'id', id: '5b0e4a52-3c1d-4d7e-9f00-0123456789ab' });
    expect(parseKeyRef('voke_a1b2')).toEqual({ kind: 'prefix', prefix: 'voke_a1b2' });
    const key = generateApiKey();
    expect(() => parseKeyRef(key)).toThrow(UsageError);
    try {
      parseKeyRef(key);
    } catch (err) {
      expect((err as Error).message).not.toContain(key.slice(5));
    }
  });
});

describe('batches (revoke --leaked and import calls)', () => {
  it("cuts at 1,000 items and keeps each call's JSON under 60,000 bytes, in order", () => {
    const small = Array.from({ length: 2500 }, (_, i) => `k${i}`);
    const cut = batches(small);
    expect(cut.map((b) => b.length)).toEqual([1000, 1000, 500]);
    expect(cut.flat()).toEqual(small);
    const big = Array.from({ length: 300 }, (_, i) => `${i}`.padEnd(500, 'x'));
    const bySize = batches(big);
    expect(bySize.length).toBeGreaterThan(2);
    for (const b of bySize) expect(Buffer.byteLength(JSON.stringify({ keys: b }))).toBeLessThan(64 * 1024);
    expect(bySize.flat()).toEqual(big);
    expect(batches([])).toEqual([]);
  });
});
