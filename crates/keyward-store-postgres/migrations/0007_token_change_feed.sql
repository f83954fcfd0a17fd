-- Every committed change that can alter a token's verification is announced
-- on a channel that every Keyward instance sharing this database listens to,
-- so each drops its cached copy at once instead of waiting for a TTL.
-- Announced from a trigger so that no code path (nor a manual UPDATE) can
-- forget; NOTIFY is delivered only on commit, and a rolled-back change says
-- nothing. The channel carries the schema's name so that deployments (and
-- test runs) sharing one database in different schemas stay apart. The
-- payload is the token's digest in hex: what the caches are keyed by, and
-- already in the table; never the secret.
CREATE FUNCTION keyward_announce_token_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('keyward_tokens_' || current_schema(), encode(OLD.digest, 'hex'));
    RETURN NULL;
END
$$;

-- Usage counters (use_count, last_used_at) change constantly and never
-- affect a verdict, so they announce nothing.
CREATE TRIGGER tokens_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
       OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
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

CREATE TRIGGER tokens_deleted AFTER DELETE ON tokens FOR EACH ROW
    EXECUTE FUNCTION keyward_announce_token_change();
