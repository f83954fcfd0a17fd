-- A management token's expiry ceiling: the expiry of the token whose
-- authority bounded it, carried through rotations so that rotating it
-- later (by a person or by the scheduler) never outlives that bound.
-- Tokens minted by a token before this migration take their parent's
-- expiry as it was when they were minted: a parent replaced since kept
-- its own expiry in `expires_at_before_rotation` (a grace period shortened
-- `expires_at`), or, rotated with no grace, in `expires_at`. An
-- organization's first admin token founded by an expiring token takes its
-- own expiry, which was bounded by the founder's.
ALTER TABLE tokens ADD COLUMN expiry_ceiling INTEGER;
UPDATE tokens SET expiry_ceiling = (
    SELECT CASE
        WHEN parent.replaced_by IS NULL THEN parent.expires_at
        WHEN parent.expires_at_before_rotation IS NOT NULL THEN parent.expires_at_before_rotation
        WHEN parent.revoked_reason = 'rotation' THEN parent.expires_at
        ELSE NULL
    END
    FROM tokens parent
    WHERE parent.org_id = tokens.org_id AND parent.id = tokens.parent_token_id
) WHERE management AND parent_token_id IS NOT NULL;
UPDATE tokens SET expiry_ceiling = expires_at
WHERE management AND expiry_ceiling IS NULL AND expires_at IS NOT NULL AND rotated_from IS NULL
  AND name = 'admin (organization founded)' AND created_by LIKE 'tok!_%' ESCAPE '!';
