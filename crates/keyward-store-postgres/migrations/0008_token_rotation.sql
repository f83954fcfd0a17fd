-- Rotation with a grace period, and why a token was revoked.
--
-- A rotated token keeps verifying until the end of its grace period, which
-- is stored as its expires_at (so every state check, filter and count
-- already treats it right, and the change feed of 0007 announces it); its
-- own earlier expiry is kept beside it, because a grace period may be
-- extended up to that and never past it.
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT
    CHECK (revoked_reason IN ('user_action', 'rotation', 'policy', 'leaked', 'suspicious_activity', 'member_removed'));
ALTER TABLE tokens ADD COLUMN rotated_from TEXT;
ALTER TABLE tokens ADD COLUMN replaced_by TEXT;
ALTER TABLE tokens ADD COLUMN rotated_at BIGINT;
ALTER TABLE tokens ADD COLUMN expires_at_before_rotation BIGINT;

-- Every revocation before reasons existed was a person's action or a
-- member's removal; the audit log tells them apart, the column says the former.
UPDATE tokens SET revoked_reason = 'user_action' WHERE revoked_at IS NOT NULL;

-- A replaced token's verdict changes (EXPIRED for a rotation), so other
-- instances must drop it too: announce these columns as well.
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
       OR OLD.revoked_reason IS DISTINCT FROM NEW.revoked_reason
       OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
       OR OLD.replaced_by IS DISTINCT FROM NEW.replaced_by
       OR OLD.scopes IS DISTINCT FROM NEW.scopes
       OR OLD.allowed_ips IS DISTINCT FROM NEW.allowed_ips
       OR OLD.name IS DISTINCT FROM NEW.name
       OR OLD.metadata IS DISTINCT FROM NEW.metadata
       OR OLD.owner IS DISTINCT FROM NEW.owner
       OR OLD.keyspace_id IS DISTINCT FROM NEW.keyspace_id
       OR OLD.org_id IS DISTINCT FROM NEW.org_id
       OR OLD.management IS DISTINCT FROM NEW.management
       OR OLD.digest IS DISTINCT FROM NEW.digest)
    EXECUTE FUNCTION keyward_announce_token_change();

-- Who still uses a token: one row per (address, user agent), for tokens in
-- a rotation grace period, so the owner can see which clients to update.
-- '' stands for "not known" so the pair can be a key.
CREATE TABLE token_clients (
    token_id      TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    client_ip     TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    uses          BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (token_id, client_ip, user_agent)
);
