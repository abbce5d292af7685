-- The mint self-test logs in as the partner from voke-auth's own address, before anyone but
-- the minting service holds the key. Until self_test_until:
--   * the key's IP allowlist is not applied (the probe cannot come from the partner's address);
--   * its logins are the probe's, not the partner's first connection (partner.connected).
-- The mint sets it just before probing and moves it to now() once the probe passed; both
-- updates NOTIFY, so no cache keeps the open window.
ALTER TABLE api_keys ADD COLUMN self_test_until timestamptz;
