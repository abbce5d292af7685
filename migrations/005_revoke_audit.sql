-- Every revocation leaves exactly one api_key.revoked audit row (DESIGN §7), also one made in
-- plain SQL (`UPDATE api_keys SET is_active = false WHERE id = …`, the ops runbook).
--
-- The API writes its own row (with actor, IP, user agent) in the transaction that revokes, but
-- after its UPDATE. So the SQL row is written by a DEFERRED trigger, at commit, and only when
-- that transaction has not written an api_key.revoked row for the key itself. Which keys it
-- has is noted in a transaction-local setting by a trigger on audit_events, so it holds for
-- any writer (API revoke, leaked-key revoke, savepoints) without the store having to say so.

-- Remember, for this transaction only, the keys an api_key.revoked row was written for.
CREATE FUNCTION voke_note_revoke_audited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('voke.revoke_audited',
                     coalesce(current_setting('voke.revoke_audited', true), '') || ',' || NEW.api_key_id::text, true);
  RETURN NULL;
END $$;

CREATE TRIGGER audit_events_note_revoked AFTER INSERT ON audit_events
  FOR EACH ROW WHEN (NEW.type = 'api_key.revoked' AND NEW.api_key_id IS NOT NULL)
  EXECUTE FUNCTION voke_note_revoke_audited();

-- revoked_at follows is_active whoever changes it: stamped on a revocation, cleared when a key
-- is re-activated. Without it an API revoke after a SQL one would count as a second revocation
-- (and write a second row), and an API revoke of a re-activated key would do nothing.
CREATE FUNCTION voke_stamp_revoked_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.is_active THEN
    NEW.revoked_at := NULL;
  ELSIF NEW.revoked_at IS NOT DISTINCT FROM OLD.revoked_at OR NEW.revoked_at IS NULL THEN
    NEW.revoked_at := now();
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER api_keys_stamp_revoked_at BEFORE UPDATE OF is_active ON api_keys
  FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active)
  EXECUTE FUNCTION voke_stamp_revoked_at();

-- At commit: a revocation nobody audited in this transaction was made in SQL; say so.
CREATE FUNCTION voke_audit_sql_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF position(',' || NEW.id::text IN coalesce(current_setting('voke.revoke_audited', true), '')) > 0 THEN
    RETURN NULL;
  END IF;
  -- Re-activated or deleted again later in the same transaction: nothing was revoked.
  IF NOT EXISTS (SELECT 1 FROM api_keys WHERE id = NEW.id AND NOT is_active) THEN
    RETURN NULL;
  END IF;
  INSERT INTO audit_events (type, organization_id, api_key_id, actor_id, details)
  VALUES ('api_key.revoked', NEW.organization_id, NEW.id, NULL,
          jsonb_build_object('via', 'sql', 'dbUser', session_user::text));
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER api_keys_audit_sql_revoke AFTER UPDATE OF is_active ON api_keys
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
  EXECUTE FUNCTION voke_audit_sql_revoke();
