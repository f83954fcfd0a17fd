-- Scope catalogs: a keyspace's allowed scopes gain descriptions shown to the
-- people choosing them. A JSON array of {"scope", "description"}; NULL = any
-- customer scope. Existing allowed lists become catalogs with empty
-- descriptions, for an owner to fill in.
ALTER TABLE keyspaces ADD COLUMN scope_catalog JSONB;
UPDATE keyspaces
SET scope_catalog = COALESCE((SELECT jsonb_agg(jsonb_build_object('scope', s, 'description', ''))
                              FROM jsonb_array_elements_text(keyspaces.allowed_scopes) AS s), '[]'::jsonb)
WHERE allowed_scopes IS NOT NULL;
ALTER TABLE keyspaces DROP COLUMN allowed_scopes;
