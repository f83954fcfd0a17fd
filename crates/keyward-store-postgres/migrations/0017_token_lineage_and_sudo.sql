-- Lineage: the management token whose authority made a token (by issuing
-- it, or by rotating the token it replaces), so that revoking a leaked
-- token can take everything it planted with it. Tokens made by a token
-- before this migration name it in `created_by` already.
ALTER TABLE tokens ADD COLUMN parent_token_id TEXT;
UPDATE tokens SET parent_token_id = created_by WHERE created_by LIKE 'tok\_%' ESCAPE '\';
CREATE INDEX tokens_by_parent ON tokens (org_id, parent_token_id) WHERE parent_token_id IS NOT NULL;

-- When the session's user last typed their password (at sign-in, or to
-- confirm a sensitive action); NULL: at sign-in, `created_at`.
ALTER TABLE sessions ADD COLUMN password_confirmed_at BIGINT;
