-- Scope catalogs: a keyspace's allowed scopes gain descriptions shown to the
-- people choosing them. A JSON array of {"scope", "description"}; NULL = any
-- customer scope. Existing allowed lists become catalogs with empty
-- descriptions, for an owner to fill in.
ALTER TABLE keyspaces ADD COLUMN scope_catalog TEXT;
UPDATE keyspaces
SET scope_catalog = (SELECT json_group_array(json_object('scope', value, 'description', ''))
                     FROM json_each(keyspaces.allowed_scopes))
WHERE allowed_scopes IS NOT NULL;
ALTER TABLE keyspaces DROP COLUMN allowed_scopes;
