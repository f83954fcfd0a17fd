-- A delivery refused by the destination rules (a loopback, private or
-- otherwise internal address) makes no request: its attempt records the
-- rule and neither a status nor a duration, so the delivery log cannot be
-- used to probe the network the server runs in.
ALTER TABLE webhook_attempts ALTER COLUMN duration_ms DROP NOT NULL;
ALTER TABLE webhook_attempts ADD COLUMN refused_by TEXT;
