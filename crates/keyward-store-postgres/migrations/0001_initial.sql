-- Keyward's initial schema for PostgreSQL.
-- Times are BIGINT microseconds since the Unix epoch (UTC), exactly as in the
-- SQLite backend, so both store, compare and paginate on the same values.

CREATE TABLE keyspaces (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    environment         TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    prefix              TEXT NOT NULL,
    default_ttl_seconds BIGINT,
    allowed_scopes      JSONB,           -- array; NULL = any scope
    management          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL,
    created_by          TEXT NOT NULL
);

-- At most one management keyspace: bootstrap races resolve here.
CREATE UNIQUE INDEX keyspaces_single_management ON keyspaces (management) WHERE management;
CREATE INDEX keyspaces_newest ON keyspaces (created_at DESC, id DESC);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    keyspace_id  TEXT NOT NULL REFERENCES keyspaces (id),
    digest       BYTEA NOT NULL UNIQUE CHECK (octet_length(digest) = 32), -- SHA-256; the secret is never stored
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    scopes       JSONB NOT NULL,
    metadata     JSONB NOT NULL,
    environment  TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    prefix       TEXT NOT NULL,
    last4        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    use_count    BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX tokens_newest ON tokens (created_at DESC, id DESC);
CREATE INDEX tokens_by_keyspace ON tokens (keyspace_id, created_at DESC, id DESC);
CREATE INDEX tokens_by_owner ON tokens (owner, created_at DESC, id DESC);

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    request_id  TEXT,
    source_ip   TEXT,
    details     JSONB NOT NULL
);

CREATE INDEX audit_newest ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_by_target ON audit_events (target_id, occurred_at DESC);
CREATE INDEX audit_by_actor ON audit_events (actor, occurred_at DESC);
