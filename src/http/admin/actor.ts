import type { Context } from 'hono';
import type { Actor } from '../../keys/lifecycle.js';
import { type AdminEnv, actorUser } from './auth.js';
import { requestMeta } from './request.js';

/** Who calls (the principal, upserted as a users row) and from where, for a key's audit rows. */
export function actorOf(c: Context<AdminEnv>): Actor {
  return { user: actorUser(c.get('principal')), ...requestMeta(c) };
}
