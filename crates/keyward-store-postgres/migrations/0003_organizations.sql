-- Organizations (tenants). Every keyspace, token and audit event belongs to
-- one; a token's keyspace must be in the token's own organization, which the
-- composite foreign key below enforces, so no bug above the store can file a
-- token under another tenant's keyspace. Rows from before this migration
-- belong to the operator organization created here (only when a deployment
-- was bootstrapped).

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    operator    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);

-- One operator organization: bootstrap races resolve here.
CREATE UNIQUE INDEX organizations_single_operator ON organizations (operator) WHERE operator;
CREATE INDEX organizations_newest ON organizations (created_at DESC, id DESC);

INSERT INTO organizations (id, name, operator, created_at, created_by)
SELECT 'org_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 22), 'default', TRUE, created_at, 'system'
FROM keyspaces WHERE management;

ALTER TABLE keyspaces ADD COLUMN org_id TEXT REFERENCES organizations (id);
UPDATE keyspaces SET org_id = (SELECT id FROM organizations WHERE operator);
ALTER TABLE keyspaces ALTER COLUMN org_id SET NOT NULL;
ALTER TABLE keyspaces ADD CONSTRAINT keyspaces_org_id_id_key UNIQUE (org_id, id);

ALTER TABLE tokens ADD COLUMN org_id TEXT;
ALTER TABLE tokens ADD COLUMN management BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE tokens t SET org_id = k.org_id, management = k.management FROM keyspaces k WHERE k.id = t.keyspace_id;
ALTER TABLE tokens ALTER COLUMN org_id SET NOT NULL;
ALTER TABLE tokens DROP CONSTRAINT tokens_keyspace_id_fkey;
ALTER TABLE tokens ADD CONSTRAINT tokens_keyspace_in_org
    FOREIGN KEY (org_id, keyspace_id) REFERENCES keyspaces (org_id, id);

-- One management keyspace per organization.
DROP INDEX keyspaces_single_management;
CREATE UNIQUE INDEX keyspaces_single_management ON keyspaces (org_id) WHERE management;
DROP INDEX keyspaces_newest;
CREATE INDEX keyspaces_newest ON keyspaces (org_id, created_at DESC, id DESC);

DROP INDEX tokens_newest;
DROP INDEX tokens_by_owner;
CREATE INDEX tokens_newest ON tokens (org_id, created_at DESC, id DESC);
CREATE INDEX tokens_by_owner ON tokens (org_id, owner, created_at DESC, id DESC);

ALTER TABLE audit_events ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
UPDATE audit_events SET org_id = (SELECT id FROM organizations WHERE operator);
ALTER TABLE audit_events ALTER COLUMN org_id DROP DEFAULT;
DROP INDEX audit_newest;
DROP INDEX audit_by_target;
DROP INDEX audit_by_actor;
CREATE INDEX audit_newest ON audit_events (org_id, occurred_at DESC, id DESC);
CREATE INDEX audit_by_target ON audit_events (org_id, target_id, occurred_at DESC);
CREATE INDEX audit_by_actor ON audit_events (org_id, actor, occurred_at DESC);
