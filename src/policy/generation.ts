// Which secret of a key opened a connection. A login answers a second broker tag naming the
// secret's generation (0 for the minted secret, +1 per rotation), modulo GENERATION_TAG_MODULUS:
// tags are atoms on the broker, never freed, so there are at most that many of these, shared by
// every key. Generation 0 (mod the modulus) answers no tag at all: a key that was never rotated
// answers `allow vcp-key-<id>` as before. Pure.

export const GENERATION_TAG_PREFIX = 'vcp-gen-';
/**
 * At most two generations of a key are valid at once; the others' connections are closed within
 * seconds. A tag names a generation unambiguously unless a key is rotated this many times before
 * an old connection is closed.
 */
export const GENERATION_TAG_MODULUS = 64;

/** The login answer's tags after `allow`: the key tag, and the generation tag unless it is 0. */
export function generationTagSuffix(generation: number): string {
  const residue = generation % GENERATION_TAG_MODULUS;
  return residue === 0 ? '' : ` ${GENERATION_TAG_PREFIX}${residue}`;
}

const RESIDUE = /^(0|[1-9][0-9]?)$/;

/**
 * The generation residue the call's tags carry: 0 without a generation tag, null when the tags
 * are malformed (two generation tags, or one that is not a residue).
 */
export function generationFromTags(tags: string | null): number | null {
  if (tags === null || !tags.includes(GENERATION_TAG_PREFIX)) return 0;
  let found: number | undefined;
  for (const tag of tags.split(' ')) {
    if (!tag.startsWith(GENERATION_TAG_PREFIX)) continue;
    const text = tag.slice(GENERATION_TAG_PREFIX.length);
    if (found !== undefined || !RESIDUE.test(text) || Number(text) >= GENERATION_TAG_MODULUS) return null;
    found = Number(text);
  }
  return found ?? 0;
}

/**
 * The full generation a connection's tag names, if that secret is still valid for the key: the
 * current one, or the previous one until its overlap ends. undefined: a secret that no longer
 * opens anything (its connection's next check is denied).
 */
export function validGeneration(key: { generation: number; previousExpiresAt: number | null }, residue: number, now: number): number | undefined {
  if (residue === key.generation % GENERATION_TAG_MODULUS) return key.generation;
  if (key.generation > 0 && key.previousExpiresAt !== null && now < key.previousExpiresAt && residue === (key.generation - 1) % GENERATION_TAG_MODULUS) {
    return key.generation - 1;
  }
  return undefined;
}
