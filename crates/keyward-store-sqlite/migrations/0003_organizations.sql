-- Organizations (tenants). Every keyspace, token and audit event belongs to
-- one; a token's keyspace must be in the token's own organization, which the
-- composite foreign key below enforces, so no bug above the store can file a
-- token under another tenant's keyspace.
--
-- SQLite cannot add constraints to existing tables, so keyspaces and tokens
-- are rebuilt. Rows from before this migration belong to the operator
-- organization created here (only when a deployment was bootstrapped).

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    operator    INTEGER NOT NULL DEFAULT 0 CHECK (operator IN (0, 1)),
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
) STRICT;

-- One operator organization: bootstrap races resolve here.
CREATE UNIQUE INDEX organizations_single_operator ON organizations (operator) WHERE operator = 1;
CREATE INDEX organizations_newest ON organizations (created_at DESC, id DESC);

INSERT INTO organizations (id, name, operator, created_at, created_by)
SELECT 'org_' || lower(hex(randomblob(11))), 'default', 1, created_at, 'system'
FROM keyspaces WHERE management = 1;

CREATE TABLE keyspaces_v3 (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations (id),
    name                TEXT NOT NULL,
    environment         TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    prefix              TEXT NOT NULL,
    default_ttl_seconds INTEGER,
    allowed_scopes      TEXT,            -- JSON array, NULL = any scope
    management          INTEGER NOT NULL DEFAULT 0 CHECK (management IN (0, 1)),
    created_at          INTEGER NOT NULL,
    created_by          TEXT NOT NULL,
    UNIQUE (org_id, id)
) STRICT;

INSERT INTO keyspaces_v3 (id, org_id, name, environment, prefix, default_ttl_seconds, allowed_scopes, management, created_at, created_by)
SELECT id, (SELECT id FROM organizations WHERE operator = 1), name, environment, prefix, default_ttl_seconds,
       allowed_scopes, management, created_at, created_by
FROM keyspaces;

CREATE TABLE tokens_v3 (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    keyspace_id  TEXT NOT NULL,
    management   INTEGER NOT NULL DEFAULT 0 CHECK (management IN (0, 1)),
    digest       BLOB NOT NULL UNIQUE,   -- SHA-256 of the token; the secret itself is never stored
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    scopes       TEXT NOT NULL,          -- JSON array, sorted
    allowed_ips  TEXT NOT NULL DEFAULT '[]',
    metadata     TEXT NOT NULL,          -- JSON object
    environment  TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    prefix       TEXT NOT NULL,
    last4        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    use_count    INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (org_id, keyspace_id) REFERENCES keyspaces_v3 (org_id, id)
) STRICT;

INSERT INTO tokens_v3 (id, org_id, keyspace_id, management, digest, name, owner, scopes, allowed_ips, metadata,
                       environment, prefix, last4, created_at, created_by, expires_at, revoked_at, last_used_at, use_count)
SELECT t.id, k.org_id, t.keyspace_id, k.management, t.digest, t.name, t.owner, t.scopes, t.allowed_ips, t.metadata,
       t.environment, t.prefix, t.last4, t.created_at, t.created_by, t.expires_at, t.revoked_at, t.last_used_at, t.use_count
FROM tokens t JOIN keyspaces_v3 k ON k.id = t.keyspace_id;

DROP TABLE tokens;
DROP TABLE keyspaces;
-- Renaming also rewrites tokens_v3's foreign key to the new name.
ALTER TABLE keyspaces_v3 RENAME TO keyspaces;
ALTER TABLE tokens_v3 RENAME TO tokens;

-- One management keyspace per organization.
CREATE UNIQUE INDEX keyspaces_single_management ON keyspaces (org_id) WHERE management = 1;
CREATE INDEX keyspaces_newest ON keyspaces (org_id, created_at DESC, id DESC);

CREATE INDEX tokens_newest ON tokens (org_id, created_at DESC, id DESC);
CREATE INDEX tokens_by_keyspace ON tokens (keyspace_id, created_at DESC, id DESC);
CREATE INDEX tokens_by_owner ON tokens (org_id, owner, created_at DESC, id DESC);

ALTER TABLE audit_events ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
UPDATE audit_events SET org_id = (SELECT id FROM organizations WHERE operator = 1);
DROP INDEX audit_newest;
DROP INDEX audit_by_target;
DROP INDEX audit_by_actor;
CREATE INDEX audit_newest ON audit_events (org_id, occurred_at DESC, id DESC);
CREATE INDEX audit_by_target ON audit_events (org_id, target_id, occurred_at DESC);
CREATE INDEX audit_by_actor ON audit_events (org_id, actor, occurred_at DESC);
