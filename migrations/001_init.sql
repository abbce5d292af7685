-- Organizations, their users, API keys (hashes only) and the audit log.
-- Table and column names are part of the ops contract (DESIGN §6): runbooks use SQL.

CREATE TABLE organizations (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- People and service principals that act through the admin API (the "creator" of a key).
CREATE TABLE users (
  id               uuid PRIMARY KEY,
  email            text,
  name             text,
  role             text NOT NULL,
  organization_id  uuid REFERENCES organizations(id) ON DELETE SET NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id    uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  key_hash           text NOT NULL UNIQUE,           -- hex HMAC-SHA256(pepper, key), or legacy hex SHA-256(key)
  key_prefix         text NOT NULL,                  -- first 9 chars, e.g. voke_a1b2
  name               text NOT NULL,
  partner_id         text NOT NULL,
  scopes             text[] NOT NULL,
  allowed_ips        text[] NOT NULL DEFAULT '{}',   -- CIDRs; empty = no restriction
  allowed_plant_ids  uuid[],                         -- null = all plants of the org
  vhost              text,                           -- partner-<id>; null = legacy key on vhost "/"
  is_active          boolean NOT NULL DEFAULT true,
  expires_at         timestamptz,
  last_used_at       timestamptz,
  signing_key_enc    bytea,                          -- AES-256-GCM(iv | tag | ciphertext) of the HMAC signing key
  created_by         uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  revoked_at         timestamptz,
  acknowledged_at    timestamptz,                    -- reveal screen "I've saved these"
  connected_at       timestamptz,                    -- first successful broker login (partner.connected)
  deprovisioned_at   timestamptz                     -- reconciler removed the broker vhost
);
CREATE INDEX api_keys_org_created_idx ON api_keys (organization_id, created_at DESC);

CREATE TABLE audit_events (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  type             text NOT NULL,
  organization_id  uuid REFERENCES organizations(id) ON DELETE CASCADE,
  api_key_id       uuid,            -- no FK: the log outlives the key
  actor_id         uuid,
  ip               text,
  user_agent       text,
  details          jsonb NOT NULL DEFAULT '{}',
  -- Set on aggregated events (partner.connection_refused): one row per key/org, reason and window.
  aggregate_key    text UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_org_created_idx ON audit_events (organization_id, created_at DESC);
CREATE INDEX audit_events_key_idx ON audit_events (api_key_id);

-- Cache invalidation: every instance LISTENs on voke_auth_changes and evicts the id it is told.
-- Bookkeeping columns (last use, first connect, acknowledge, deprovision) do not notify: the
-- batched last_used_at flush would otherwise evict every busy key every few seconds.
CREATE FUNCTION voke_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bookkeeping text[] := ARRAY['last_used_at', 'connected_at', 'acknowledged_at', 'deprovisioned_at', 'updated_at'];
  row_id uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN
    row_id := OLD.id;
  ELSE
    row_id := NEW.id;
  END IF;
  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - bookkeeping) = (to_jsonb(NEW) - bookkeeping) THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('voke_auth_changes', TG_TABLE_NAME || ':' || TG_OP || ':' || row_id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION voke_notify_change();
CREATE TRIGGER organizations_notify AFTER INSERT OR UPDATE OR DELETE ON organizations
  FOR EACH ROW EXECUTE FUNCTION voke_notify_change();
