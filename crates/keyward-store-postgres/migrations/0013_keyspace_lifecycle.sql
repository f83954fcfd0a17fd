-- A keyspace may set its own rotation period and inactivity rule for its
-- tokens, overriding the organization's policy (a token's own rotation
-- period still wins over both).
ALTER TABLE keyspaces ADD COLUMN rotation_period_days INTEGER;
ALTER TABLE keyspaces ADD COLUMN disable_after_inactive_days INTEGER;
