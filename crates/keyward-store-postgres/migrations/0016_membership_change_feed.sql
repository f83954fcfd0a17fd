-- Instances cache the role of the person owning a management token beside
-- the token, so that authenticating with it needs no query. A role change
-- or a removal must reach every instance's copy at once: it is announced as
-- a change of each token that person owns in that organization, on the
-- channel and in the form of the token change feed (0007), so an instance
-- drops those tokens, roles included, when it hears. Only management tokens
-- carry a role, so only they are announced.
CREATE FUNCTION keyward_announce_membership_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('keyward_tokens_' || current_schema(), encode(digest, 'hex'))
       FROM tokens
      WHERE org_id = OLD.org_id AND owner = OLD.user_id AND management;
    RETURN NULL;
END
$$;

CREATE TRIGGER memberships_changed AFTER UPDATE ON memberships FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role)
    EXECUTE FUNCTION keyward_announce_membership_change();

CREATE TRIGGER memberships_deleted AFTER DELETE ON memberships FOR EACH ROW
    EXECUTE FUNCTION keyward_announce_membership_change();
