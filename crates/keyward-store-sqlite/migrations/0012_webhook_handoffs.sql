-- Automatic rotation and signing-secret rotation.
--
-- A token's owner may opt in to automatic rotation: when its rotation falls
-- due the scheduler replaces it and hands the new secret to one webhook
-- endpoint. Deleting that endpoint turns the opt-in off (SET NULL), so no
-- token is ever rotated with nobody to receive it.
ALTER TABLE tokens ADD COLUMN auto_rotate_webhook_id TEXT REFERENCES webhook_endpoints (id) ON DELETE SET NULL;
ALTER TABLE tokens ADD COLUMN auto_rotate_grace_seconds INTEGER;

-- The one delivery that carries a secret holds it sealed under the master
-- key (context: endpoint and event), and only until it is delivered or
-- given up: it is erased when the delivery ends either way.
ALTER TABLE webhook_deliveries ADD COLUMN sealed_payload BLOB;

-- A replaced signing secret keeps signing alongside the new one until
-- previous_secret_until, so receivers can switch without dropping events.
ALTER TABLE webhook_endpoints ADD COLUMN previous_sealed_secret BLOB;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until INTEGER;
