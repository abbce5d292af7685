-- The type of a key's partner queues (BROKER_QUEUE_TYPE when its vhost was provisioned):
-- 'classic' or 'quorum'; null for a key without a vhost of its own (REST-only, legacy "/").
-- A queue's type cannot change in place, so a key keeps the type it was provisioned with when
-- BROKER_QUEUE_TYPE changes (docs/cluster.md). Every vhost provisioned before this column
-- existed holds classic queues.
ALTER TABLE api_keys ADD COLUMN queue_type text CHECK (queue_type IN ('classic', 'quorum'));
UPDATE api_keys SET queue_type = 'classic' WHERE vhost IS NOT NULL;
