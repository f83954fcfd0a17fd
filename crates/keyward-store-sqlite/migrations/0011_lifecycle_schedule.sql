-- The lifecycle scheduler: a token may carry its own rotation period
-- (overriding the organization's policy), and every notice the scheduler
-- sends (an expiry warning, an expiry, a rotation falling due) is recorded
-- once, keyed by what it is about, so several instances running the
-- schedule, or one running it twice, announce nothing twice.
ALTER TABLE tokens ADD COLUMN rotation_period_days INTEGER;

CREATE TABLE lifecycle_notices (
    token_id   TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    -- e.g. 'expiring:7d', 'expired', 'inactivity_warning:1d', 'rotation_due'
    kind       TEXT NOT NULL,
    -- The instant the notice is about (the expiry, the disabling, the due
    -- date): when it moves, the notice is owed again.
    about      INTEGER NOT NULL,
    org_id     TEXT NOT NULL,
    noticed_at INTEGER NOT NULL,
    PRIMARY KEY (token_id, kind, about)
) STRICT;

-- The scheduler looks for tokens near their expiry.
CREATE INDEX tokens_live_expiry ON tokens (org_id, expires_at) WHERE revoked_at IS NULL AND disabled_at IS NULL;
