// The broker users declared in the repo's definitions.json. The internal backend is asked
// before voke-auth, so an org slug equal to one of these names would log in as that user:
// the admin API refuses such slugs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repo's definitions.json. */
export const DEFINITIONS_PATH = fileURLToPath(new URL('../../definitions.json', import.meta.url));

export interface BrokerUserDefinition {
  readonly name: string;
  readonly tags: readonly string[];
}

let cached: readonly BrokerUserDefinition[] | undefined;

/** Parses the `users` of a definitions document (tags as a list or a comma string). */
export function parseBrokerUsers(doc: unknown): readonly BrokerUserDefinition[] {
  const users = (doc as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) throw new Error('definitions.json: "users" must be an array');
  return users.map((u: unknown, i) => {
    const { name, tags } = (u ?? {}) as { name?: unknown; tags?: unknown };
    if (typeof name !== 'string' || name === '') throw new Error(`definitions.json: users[${i}].name missing`);
    const list = Array.isArray(tags)
      ? tags.map(String)
      : typeof tags === 'string'
        ? tags
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean)
        : [];
    return { name, tags: list };
  });
}

/** Users of the repo's definitions.json (read once). */
export function brokerUsers(): readonly BrokerUserDefinition[] {
  cached ??= parseBrokerUsers(JSON.parse(readFileSync(DEFINITIONS_PATH, 'utf8')));
  return cached;
}

/** Names of all internal broker users; org slugs must not be one of them. */
export function brokerUserNames(): ReadonlySet<string> {
  return new Set(brokerUsers().map((u) => u.name));
}

function single(kind: string, pick: (u: BrokerUserDefinition) => boolean): string {
  const found = brokerUsers().filter(pick);
  if (found.length !== 1) throw new Error(`definitions.json: expected exactly one ${kind} user, found ${found.length}`);
  return found[0]!.name;
}

/** The user tagged `administrator` (ops; voke-auth's management API client). */
export function brokerAdminUser(): string {
  return single('administrator', (u) => u.tags.includes('administrator'));
}

/** The internal service user: the one user without tags. */
export function brokerServiceUser(): string {
  return single('service (untagged)', (u) => u.tags.length === 0);
}
