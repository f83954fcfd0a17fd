-- Disabling is the reversible stop: a disabled token answers DISABLED until
-- someone enables it again. Keyward itself disables tokens that went unused
-- longer than the organization allows; enabled_at restarts that count.
ALTER TABLE tokens ADD COLUMN disabled_at BIGINT;
ALTER TABLE tokens ADD COLUMN disabled_reason TEXT CHECK (disabled_reason IN ('user_action', 'inactivity'));
ALTER TABLE tokens ADD COLUMN enabled_at BIGINT;

-- Disabling and enabling change a token's verdict: announce them too.
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
       OR OLD.revoked_reason IS DISTINCT FROM NEW.revoked_reason
       OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at
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
