// The one secrets module: what scrub removes, in every form a secret travels in, and what an
// error may bring into a log line.
import { describe, expect, it } from 'vitest';
import { errorForLog, MAX_SCRUBBED_LENGTH, scrub } from '../src/secrets.js';

const KEY = 'voke_Fx9+/= %&secret-key-for-tests';

describe('scrub', () => {
  const cases: { name: string; text: string; secrets?: (string | undefined)[]; want: string }[] = [
    { name: 'plain secret', text: `refused password ${KEY}.`, secrets: [KEY], want: 'refused password ***.' },
    { name: 'percent-encoded secret', text: `GET /x?k=${encodeURIComponent(KEY)}`, secrets: [KEY], want: 'GET /x?k=***' },
    { name: 'form-encoded secret (space as +)', text: `body k=${new URLSearchParams({ k: KEY }).toString().slice(2)}`, secrets: [KEY], want: 'body k=***' },
    { name: 'every occurrence', text: `${KEY} and ${KEY}`, secrets: [KEY], want: '*** and ***' },
    { name: 'several secrets', text: 'a=alpha-secret b=beta-secret', secrets: ['alpha-secret', 'beta-secret'], want: 'a=*** b=***' },
    {
      name: 'URL userinfo, any scheme',
      text: 'amqps://acme:pw@host:5671/v and http://admin:x@mgmt:15672/api',
      want: 'amqps://***@host:5671/v and http://***@mgmt:15672/api',
    },
    { name: 'URL userinfo without a password', text: 'postgres://user@db/x', want: 'postgres://***@db/x' },
    { name: 'a URL without userinfo is kept', text: 'broker unreachable at amqp://127.0.0.1:1', want: 'broker unreachable at amqp://127.0.0.1:1' },
    { name: 'empty and undefined secrets are ignored', text: 'nothing to hide', secrets: ['', undefined], want: 'nothing to hide' },
    { name: 'no secrets given', text: 'plain text', want: 'plain text' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(scrub(c.text, c.secrets)).toBe(c.want);
    });
  }

  it('cuts long texts', () => {
    expect(scrub('x'.repeat(MAX_SCRUBBED_LENGTH * 2))).toHaveLength(MAX_SCRUBBED_LENGTH);
  });
});

describe('errorForLog', () => {
  it('keeps name, code, message and stack, scrubbed, and nothing else', () => {
    const err = Object.assign(new Error(`connect as ${KEY} to amqp://u:p@h failed`), { code: 'ECONNREFUSED', options: { password: KEY } });
    const logged = errorForLog(err, [KEY]);
    expect(Object.keys(logged).sort()).toEqual(['code', 'message', 'name', 'stack']);
    expect(logged).toMatchObject({ name: 'Error', code: 'ECONNREFUSED', message: 'connect as *** to amqp://***@h failed' });
    expect(JSON.stringify(logged)).not.toContain(KEY);
    expect(JSON.stringify(logged)).not.toContain('u:p@');
  });

  it('a thrown non-Error becomes its scrubbed text', () => {
    expect(errorForLog(`boom ${KEY}`, [KEY])).toEqual({ name: 'NonError', message: 'boom ***' });
  });
});
