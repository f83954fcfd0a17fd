-- One row that readiness checks rewrite: a store that answers reads but
-- cannot commit a write (a full disk, a read-only replica) is not ready.
CREATE TABLE store_probe (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    probes BIGINT NOT NULL
);
