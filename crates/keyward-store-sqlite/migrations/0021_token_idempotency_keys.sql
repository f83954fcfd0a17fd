-- The Idempotency-Key of the request that created a token (or the web
-- form's nonce): unique within an organization, so a retried creation
-- finds the token it made instead of making a second one, on every
-- instance and after a restart.
ALTER TABLE tokens ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX tokens_by_idempotency_key ON tokens (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
