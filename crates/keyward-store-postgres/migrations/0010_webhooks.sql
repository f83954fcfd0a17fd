-- Webhook endpoints and their deliveries: a transactional outbox. The audit
-- write of a lifecycle event queues one delivery per subscribed endpoint in
-- the same transaction, so no event is lost to a crash between the change
-- and its announcement, and none is announced for a change rolled back.
CREATE TABLE webhook_endpoints (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    -- JSON array of event types; [] means all.
    event_types   JSONB NOT NULL,
    -- The signing secret, sealed under the master key (never in clear).
    sealed_secret BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (org_id, created_at);

CREATE TABLE webhook_deliveries (
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES audit_events (id),
    org_id           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT,
    delivered_at     BIGINT,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    endpoint_id  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, event_id, attempt),
    FOREIGN KEY (endpoint_id, event_id) REFERENCES webhook_deliveries (endpoint_id, event_id) ON DELETE CASCADE
);
