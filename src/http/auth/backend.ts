// The hot path's contract: the four questions RabbitMQ's rabbitmq_auth_backend_http asks, one
// method each. Every method gets the request's form fields (form.ts) and returns the response
// body — `allow`, `deny`, or for `user` `allow <tags>` — synchronously when the key is in the
// key table, as a promise only when the database must be asked. Bad or missing fields are a
// `deny`, never an exception. Implemented by answers.ts; served by server.ts.
import type { Fields } from './form.js';

export interface AuthBackend {
  /** /auth/user: may `username` log in with `password` (the API key)? */
  user(f: Fields): string | Promise<string>;
  /** /auth/vhost: may the user open `vhost` from `ip`? */
  vhost(f: Fields): string | Promise<string>;
  /** /auth/resource: may the user `permission` (configure, write, read) the exchange or queue `name`? */
  resource(f: Fields): string | Promise<string>;
  /** /auth/topic: may the user `permission` with `routing_key` on the topic exchange `name`? */
  topic(f: Fields): string | Promise<string>;
}
