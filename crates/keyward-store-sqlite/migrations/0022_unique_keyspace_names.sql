-- Keyspace names are unique within an organization, so a script that
-- creates "payments" twice finds the first instead of making a twin.
-- Twins made before this migration keep their data; every one after the
-- first (by creation) gets its id appended to its name.
UPDATE keyspaces SET name = name || ' (' || id || ')'
WHERE EXISTS (
    SELECT 1 FROM keyspaces earlier
    WHERE earlier.org_id = keyspaces.org_id AND earlier.name = keyspaces.name
      AND (earlier.created_at < keyspaces.created_at
           OR (earlier.created_at = keyspaces.created_at AND earlier.id < keyspaces.id))
);
CREATE UNIQUE INDEX keyspaces_by_name ON keyspaces (org_id, name);
