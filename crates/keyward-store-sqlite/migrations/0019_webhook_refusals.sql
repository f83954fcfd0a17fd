-- A delivery refused by the destination rules (a loopback, private or
-- otherwise internal address) makes no request: its attempt records the
-- rule and neither a status nor a duration, so the delivery log cannot be
-- used to probe the network the server runs in. SQLite cannot drop a NOT
-- NULL constraint in place, so the table is rebuilt; nothing references it.
CREATE TABLE webhook_attempts_new (
    endpoint_id  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    attempted_at INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    duration_ms  INTEGER,
    refused_by   TEXT,
    PRIMARY KEY (endpoint_id, event_id, attempt),
    FOREIGN KEY (endpoint_id, event_id) REFERENCES webhook_deliveries (endpoint_id, event_id) ON DELETE CASCADE
);
INSERT INTO webhook_attempts_new (endpoint_id, event_id, attempt, attempted_at, status_code, error, duration_ms)
    SELECT endpoint_id, event_id, attempt, attempted_at, status_code, error, duration_ms FROM webhook_attempts;
DROP TABLE webhook_attempts;
ALTER TABLE webhook_attempts_new RENAME TO webhook_attempts;
