-- Keyward's initial schema for SQLite.
-- Times are INTEGER microseconds since the Unix epoch (UTC) so that both
-- backends store, compare and paginate on exactly the same values.

CREATE TABLE keyspaces (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    environment         TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    prefix              TEXT NOT NULL,
    default_ttl_seconds INTEGER,
    allowed_scopes      TEXT,            -- JSON array, NULL = any scope
    management          INTEGER NOT NULL DEFAULT 0 CHECK (management IN (0, 1)),
    created_at          INTEGER NOT NULL,
    created_by          TEXT NOT NULL
) STRICT;

-- At most one management keyspace: bootstrap races resolve here.
CREATE UNIQUE INDEX keyspaces_single_management ON keyspaces (management) WHERE management = 1;
CREATE INDEX keyspaces_newest ON keyspaces (created_at DESC, id DESC);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    keyspace_id  TEXT NOT NULL REFERENCES keyspaces (id),
    digest       BLOB NOT NULL UNIQUE,   -- SHA-256 of the token; the secret itself is never stored
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    scopes       TEXT NOT NULL,          -- JSON array, sorted
    metadata     TEXT NOT NULL,          -- JSON object
    environment  TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    prefix       TEXT NOT NULL,
    last4        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    use_count    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX tokens_newest ON tokens (created_at DESC, id DESC);
CREATE INDEX tokens_by_keyspace ON tokens (keyspace_id, created_at DESC, id DESC);
CREATE INDEX tokens_by_owner ON tokens (owner, created_at DESC, id DESC);

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    occurred_at INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    request_id  TEXT,
    source_ip   TEXT,
    details     TEXT NOT NULL            -- JSON object
) STRICT;

CREATE INDEX audit_newest ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_by_target ON audit_events (target_id, occurred_at DESC);
CREATE INDEX audit_by_actor ON audit_events (actor, occurred_at DESC);
