-- Keys that existed before per-scope publishing were expanded server-side ("legacy keys that
-- only have vcp:connect are expanded"). Flag every key present when this runs; never new ones.
ALTER TABLE api_keys ADD COLUMN legacy_scope_expansion boolean NOT NULL DEFAULT true;
ALTER TABLE api_keys ALTER COLUMN legacy_scope_expansion SET DEFAULT false;
