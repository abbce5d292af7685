-- Legacy keys imported by their SHA-256 (POST /api/v1/admin/api-keys/import) are idempotent on
-- that hash. key_hash alone cannot remember it: the hot path re-stores a legacy SHA-256 under
-- the pepper at the key's first login. So the import also keeps a peppered fingerprint of the
-- SHA-256 (HMAC-SHA256(pepper, sha256 hex)), never the SHA-256 itself, which would undo what
-- that rewrite protects (a database copy alone must not be enough to test guesses offline).
-- NULL for every key that was not imported.
ALTER TABLE api_keys ADD COLUMN import_fingerprint text UNIQUE;
