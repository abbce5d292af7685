// The hot path's form reader: for every body it must answer exactly what URLSearchParams answers
// (a shortcut that reads a field differently would let a crafted body change a decision).
import { describe, expect, it } from 'vitest';
import { parseForm } from '../src/http/auth/server.js';

const FIELDS = ['username', 'password', 'vhost', 'resource', 'name', 'permission', 'routing_key', 'tags', 'ip', 'x', ''];

const BODIES = [
  '',
  '?',
  '?username=acme',
  '??username=acme',
  'username=acme&password=vcp_live_abc',
  'username=acme&username=other',
  'username=&password',
  'username',
  '=acme',
  '&&username=acme&&',
  'username=a=b=c',
  'username=acme&vhost=partner-1&resource=topic&name=vcp&permission=write&routing_key=acme.command.mode&tags=vcp-key-1',
  'username=ac%6De',
  'username=ac+me',
  'username=%zz',
  'tags=vcp-key-1%2Cother',
  'ip=%3A%3Affff%3A10.0.0.1',
  'username=acmé&password=ünïcode',
  'Username=acme',
  'username =acme',
  ' username=acme',
  'password=a&b',
];

describe('parseForm reads every field as URLSearchParams does', () => {
  it.each(BODIES)('%j', (body) => {
    const ours = parseForm(body);
    const reference = new URLSearchParams(body);
    for (const field of FIELDS) expect([field, ours.get(field)]).toEqual([field, reference.get(field)]);
  });

  it('agrees on random bodies over the characters that matter', () => {
    const alphabet = ['a', 'b', '=', '&', '?', '%', '2', '6', '+', ' ', 'username', 'vhost'];
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 5000; n++) {
      let body = '';
      const len = next() % 12;
      for (let i = 0; i < len; i++) body += alphabet[next() % alphabet.length];
      const ours = parseForm(body);
      const reference = new URLSearchParams(body);
      for (const field of ['a', 'b', 'ab', 'username', 'vhost', 'a b', '']) {
        expect([body, field, ours.get(field)]).toEqual([body, field, reference.get(field)]);
      }
    }
  });
});
