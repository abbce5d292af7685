// Refusal reasons: the fixed texts, the version rule, and the switch that turns them on (pure
// logic; the end-to-end behaviour per broker line is in e2e-broker-versions.test.ts).
import { describe, expect, it } from 'vitest';
import { startDenyReasons, understandsDenyReasons } from '../src/broker/deny-reasons.js';
import { loadConfig } from '../src/config/index.js';
import { DENY_TEXTS, DENY_WITH_REASON } from '../src/policy/deny-texts.js';
import { ROUTING_KEY_SCOPES } from '../src/policy/routing.js';

describe('deny texts', () => {
  const texts = Object.entries(DENY_TEXTS);

  it('login refusals have no text: a reason must not tell whether a key exists', () => {
    expect(DENY_TEXTS.unknown_key).toBeNull();
    expect(DENY_TEXTS.malformed_key).toBeNull();
    expect(DENY_WITH_REASON.unknown_key).toBe('deny');
    expect(DENY_WITH_REASON.malformed_key).toBe('deny');
    expect(
      texts
        .filter(([, t]) => t === null)
        .map(([r]) => r)
        .sort(),
    ).toEqual(['malformed_key', 'unknown_key']);
  });

  it('every other text is short printable ASCII on one line, and the answer is "deny <text>"', () => {
    for (const [reason, text] of texts) {
      if (text === null) continue;
      expect(text, reason).toMatch(/^[\x20-\x7e]{1,80}$/);
      expect(text, reason).toBe(text.trim());
      expect(DENY_WITH_REASON[reason as keyof typeof DENY_WITH_REASON]).toBe(`deny ${text}`);
    }
  });

  it('texts are fixed: no key material, no request data, no two reasons alike', () => {
    const written = texts.map(([, t]) => t).filter((t): t is string => t !== null);
    expect(new Set(written).size).toBe(written.length);
    for (const t of written) expect(t).not.toMatch(/voke_|%s|\$\{|[0-9a-f]{8}-[0-9a-f]{4}/);
    expect(Object.isFrozen(DENY_WITH_REASON)).toBe(true);
  });

  it('a missing scope names that scope', () => {
    for (const rule of ROUTING_KEY_SCOPES) expect(DENY_TEXTS[rule.missing]).toBe(`routing key needs scope ${rule.scope}`);
  });
});

describe('which broker understands "deny <reason>"', () => {
  it.each([
    ['4.3.0', true],
    ['4.3.6', true],
    ['4.3.10', true],
    ['4.4.0', true],
    ['5.0.0', true],
    ['4.3.0+12.g1a2b3c', true],
    ['4.3.1-rc.1', true],
    ['4.3.0-rc.1', false],
    ['4.3.0-beta.2', false],
    ['4.2.6', false],
    ['4.2.99', false],
    ['4.0.5', false],
    ['3.10.8', false],
    ['3.13.7', false],
    ['', false],
    ['4.3', false],
    ['garbage', false],
  ])('%s → %s', (version, expected) => {
    expect(understandsDenyReasons(version)).toBe(expected);
  });
});

describe('the deny-reason switch', () => {
  it('off: never asks the broker, never on', async () => {
    let asked = 0;
    const s = startDenyReasons({
      mode: 'off',
      brokerVersion: async () => {
        asked++;
        return '4.3.6';
      },
    });
    await s.refresh();
    expect(s.enabled).toBe(false);
    expect(asked).toBe(0);
    s.stop();
  });

  it('auto without a broker to ask: off', async () => {
    const s = startDenyReasons({ mode: 'auto' });
    await s.refresh();
    expect(s.enabled).toBe(false);
  });

  it('auto: on for 4.3, off again for an older version or an unreadable one; told once per change', async () => {
    const answers: (string | Error)[] = ['4.3.6', '4.3.6', '4.0.5', '4.3.6', new Error('management API down'), new Error('still down'), '4.3.7'];
    const changes: string[] = [];
    const s = startDenyReasons({
      mode: 'auto',
      intervalMs: 3_600_000,
      brokerVersion: async () => {
        const a = answers.shift()!;
        if (a instanceof Error) throw a;
        return a;
      },
      onChange: (enabled, version, err) => changes.push(`${enabled} ${version} ${err ? 'error' : ''}`.trim()),
    });
    const seen: boolean[] = [];
    await s.refresh(); // the start's question is in flight: this waits for it
    seen.push(s.enabled);
    for (let i = 0; i < 6; i++) {
      await s.refresh();
      seen.push(s.enabled);
    }
    s.stop();
    expect(seen).toEqual([true, true, false, true, false, false, true]);
    expect(s.brokerVersion).toBe('4.3.7');
    expect(changes).toEqual(['true 4.3.6', 'false 4.0.5', 'true 4.3.6', 'false undefined error', 'true 4.3.7']);
  });

  it('AUTH_DENY_REASONS: auto by default, off, nothing else', () => {
    const base = { API_KEY_PEPPER: 'p', SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'), ADMIN_TOKENS: 't', JWT_SECRET: 'j' };
    expect(loadConfig(base).config.denyReasons).toBe('auto');
    expect(loadConfig({ ...base, AUTH_DENY_REASONS: 'off' }).config.denyReasons).toBe('off');
    expect(() => loadConfig({ ...base, AUTH_DENY_REASONS: 'on' })).toThrow(/AUTH_DENY_REASONS must be "auto" or "off"/);
  });
});
