-- The probe window (issue 9): the mint's self-test and test-connection log in as the partner
-- from voke-auth's own host. Until probe_until, and only from an address in probe_ips (the
-- addresses of the host that runs the probe), the key's vhost check admits the login even when
-- the key's allowlist does not: for that key, for at most 10 s, from nowhere else. The column
-- replaces 003's self_test_until, which admitted ANY address for up to 30 s.
-- Logins up to probe_until are the probe's, not the partner's first connection (usage.ts).
-- Opening and closing the window both NOTIFY (the api_keys trigger), so every instance's key
-- table re-reads the key.
ALTER TABLE api_keys RENAME COLUMN self_test_until TO probe_until;
ALTER TABLE api_keys ADD COLUMN probe_ips text[] NOT NULL DEFAULT '{}';
