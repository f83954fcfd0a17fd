-- What a token's page shows of its use: successful verifications per UTC
-- day (the 30-day chart), and a bounded sample of recent verifications with
-- their outcome and source (every denial, at most one success per flush).
CREATE TABLE token_usage_days (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    day      BIGINT NOT NULL, -- days since 1970-01-01, UTC
    uses     BIGINT NOT NULL,
    PRIMARY KEY (token_id, day)
);

CREATE TABLE token_verifications (
    id         BIGSERIAL PRIMARY KEY,
    token_id   TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    outcome    TEXT NOT NULL,
    client_ip  TEXT NOT NULL, -- '' when not known
    user_agent TEXT NOT NULL  -- '' when not known
);
CREATE INDEX token_verifications_by_token ON token_verifications (token_id, at DESC, id DESC);
