-- Rotation with a grace period, and why a token was revoked.
--
-- A rotated token keeps verifying until the end of its grace period, which
-- is stored as its expires_at (so every state check, filter and count
-- already treats it right); its own earlier expiry is kept beside it,
-- because a grace period may be extended up to that and never past it.
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT
    CHECK (revoked_reason IN ('user_action', 'rotation', 'policy', 'leaked', 'suspicious_activity', 'member_removed'));
ALTER TABLE tokens ADD COLUMN rotated_from TEXT;
ALTER TABLE tokens ADD COLUMN replaced_by TEXT;
ALTER TABLE tokens ADD COLUMN rotated_at INTEGER;
ALTER TABLE tokens ADD COLUMN expires_at_before_rotation INTEGER;

-- Every revocation before reasons existed was a person's action or a
-- member's removal; the audit log tells them apart, the column says the former.
UPDATE tokens SET revoked_reason = 'user_action' WHERE revoked_at IS NOT NULL;

-- Who still uses a token: one row per (address, user agent), for tokens in
-- a rotation grace period, so the owner can see which clients to update.
-- '' stands for "not known" so the pair can be a key.
CREATE TABLE token_clients (
    token_id      TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    client_ip     TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    uses          INTEGER NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (token_id, client_ip, user_agent)
) STRICT;
