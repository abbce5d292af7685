-- Rotation in place (POST /api/v1/partner/api-keys/:id/rotate): a key gets a new secret and keeps
-- its id, vhost, queues, scopes, allowlist and signing key. The secret it replaces stays valid
-- until previous_key_expires_at (the overlap, 0 s to 7 days). At most two secrets per key: a
-- rotation during an overlap drops the older previous secret at once.
--
--   key_hash / key_prefix        the current secret (as before)
--   previous_key_hash            the replaced secret, stored like key_hash (HMAC-SHA256 under the
--                                pepper, or plain SHA-256 for a key from before the pepper)
--   previous_key_prefix          its first 9 characters, to tell the two apart
--   previous_key_expires_at      end of the overlap; from then on previous_key_hash is inert
--                                (logins, revoke-leaked and the key table ignore it). It stays
--                                until the next rotation replaces it.
--   key_generation               0 for a minted key, +1 per rotation; logins answer a broker
--                                tag naming it (modulo 64), so later calls say which secret
--                                opened the connection
--   rotated_at                   when the current secret was created by a rotation (NULL: minted)
--
-- `UPDATE api_keys SET is_active = false WHERE id = …` still revokes the key with both secrets.
ALTER TABLE api_keys
  ADD COLUMN previous_key_hash text,
  ADD COLUMN previous_key_prefix text,
  ADD COLUMN previous_key_expires_at timestamptz,
  ADD COLUMN key_generation integer NOT NULL DEFAULT 0 CHECK (key_generation >= 0),
  ADD COLUMN rotated_at timestamptz;

-- A hash names at most one key and one of its secrets: unique within each column (key_hash is
-- UNIQUE since 001), and across them by the trigger below.
CREATE UNIQUE INDEX api_keys_previous_key_hash_key ON api_keys (previous_key_hash) WHERE previous_key_hash IS NOT NULL;

-- Cross-column uniqueness: no row may hold in one column a hash another row holds in the other.
-- (The same hash twice in one column is the unique indexes' to refuse, so INSERT … ON CONFLICT
-- keeps working.) The advisory locks serialise writers of the same hash value, so two
-- transactions cannot both pass the check for one hash.
CREATE FUNCTION voke_check_key_hashes_unique() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.key_hash IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('voke_api_key_hash:' || NEW.key_hash, 0));
    IF EXISTS (SELECT 1 FROM api_keys WHERE id <> NEW.id AND previous_key_hash = NEW.key_hash) THEN
      RAISE EXCEPTION 'api key hash already in use by another key' USING ERRCODE = 'unique_violation';
    END IF;
  END IF;
  IF NEW.previous_key_hash IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('voke_api_key_hash:' || NEW.previous_key_hash, 0));
    IF EXISTS (SELECT 1 FROM api_keys WHERE id <> NEW.id AND key_hash = NEW.previous_key_hash) THEN
      RAISE EXCEPTION 'api key hash already in use by another key' USING ERRCODE = 'unique_violation';
    END IF;
  END IF;
  IF NEW.key_hash = NEW.previous_key_hash THEN
    RAISE EXCEPTION 'a key''s previous secret must differ from its current one' USING ERRCODE = 'unique_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER api_keys_hashes_unique BEFORE INSERT OR UPDATE OF key_hash, previous_key_hash ON api_keys
  FOR EACH ROW EXECUTE FUNCTION voke_check_key_hashes_unique();

-- The NOTIFY trigger of 001 fires for every column outside its bookkeeping list, so a rotation
-- (key_hash, the previous_* columns, key_generation) reaches every instance's key table as is.

-- Which secret opened which connection. The broker's management API does not show it; the vhost
-- check does (the generation tag), with the client address. While a rotated key's old
-- connections may still need closing, every instance writes here, in batches, one row per vhost
-- check it allowed: which generation, from which address, when. The close-out (below) matches
-- these with the broker's connection list (address, connected_at).
CREATE TABLE api_key_secret_uses (
  api_key_id  uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  generation  integer NOT NULL,
  ip          text NOT NULL,
  checked_at  timestamptz NOT NULL
);
CREATE INDEX api_key_secret_uses_key_idx ON api_key_secret_uses (api_key_id, checked_at);

-- Close-outs owed to the broker after a rotation: from due_at until until_at, the reconciler
-- closes every connection of the key's vhost that was not opened with a generation
-- >= keep_from_generation (generation keep_from_generation was created at generation_created_at).
-- One row at the overlap's end (keep the current secret only), and one at the rotation itself
-- when it ended an older overlap early (keep the current and previous secrets). Claimed with
-- FOR UPDATE SKIP LOCKED, so several instances share the work; done_at once a pass ran after until_at.
CREATE TABLE api_key_closeouts (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  api_key_id             uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  keep_from_generation   integer NOT NULL,
  generation_created_at  timestamptz NOT NULL,
  due_at                 timestamptz NOT NULL,
  until_at               timestamptz NOT NULL,
  last_pass_at           timestamptz,
  closed                 integer NOT NULL DEFAULT 0,
  -- Every connection a pass listed (name, peerHost, connectedAt), also once closed: each one
  -- passed a vhost check, which later passes must not give to another connection.
  seen_connections       jsonb NOT NULL DEFAULT '[]',
  done_at                timestamptz
);
CREATE INDEX api_key_closeouts_due_idx ON api_key_closeouts (due_at) WHERE done_at IS NULL;
