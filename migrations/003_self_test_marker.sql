-- The mint self-test logs in as the partner. Logins up to self_tested_at are the service's own
-- probe, not the partner's first connection (partner.connected waits for a later login).
ALTER TABLE api_keys ADD COLUMN self_tested_at timestamptz;

CREATE OR REPLACE FUNCTION voke_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bookkeeping text[] := ARRAY['last_used_at', 'connected_at', 'acknowledged_at', 'deprovisioned_at', 'self_tested_at', 'updated_at'];
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
