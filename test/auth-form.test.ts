// The hot path's form reader: for every body it must answer exactly what URLSearchParams answers
// (a shortcut that reads a field differently would let a crafted body change a decision).
import { describe, expect, it } from 'vitest';
import { parseForm } from '../src/http/auth/form.js';

const FORM_FIELDS = ['username', 'password', 'vhost', 'resource', 'name', 'permission', 'routing_key', 'tags', 'ip', 'x', ''];

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
  'tags=vcp-key-1&tags=vcp-key-2',
  'name&name=vcp',
  'usernamex=evil&username=acme',
  'ip=1&ipx=2&i=3',
  'permission=read&routing_key=a.b&resource=queue',
  'passwordx=1&password=2&resourcex=3',
];

// For every field: the first part wins, a part without `=` is an empty value, and an `=` in a
// later part is not this part's.
const PER_FIELD = FORM_FIELDS.flatMap((f) => [`${f}=1&${f}=2`, `${f}&${f}=2`, `${f}&x=1`, `x=1&${f}=2=3&${f}=4`]);

describe('parseForm reads every field as URLSearchParams does', () => {
  it.each([...BODIES, ...PER_FIELD])('%j', (body) => {
    const ours = parseForm(body);
    const reference = new URLSearchParams(body);
    for (const field of FORM_FIELDS) expect([field, ours.get(field)]).toEqual([field, reference.get(field)]);
  });

  it('agrees on random bodies over the characters that matter', () => {
    // Field names, their near misses (same length, same first letter) and the characters that matter.
    const alphabet = ['a', '=', '&', '?', '%', '2', '6', '+', ' ', 'username', 'usernamx', 'password', 'resource', 'vhost', 'tags', 'name', 'ip', 'i', 'p'];
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 5000; n++) {
      let body = '';
      const len = next() % 12;
      for (let i = 0; i < len; i++) body += alphabet[next() % alphabet.length];
      const ours = parseForm(body);
      const reference = new URLSearchParams(body);
      for (const field of FORM_FIELDS) expect([body, field, ours.get(field)]).toEqual([body, field, reference.get(field)]);
    }
  });
});
