-- Per-token IP allowlists: a JSON array of CIDR strings; empty means anywhere.
ALTER TABLE tokens ADD COLUMN allowed_ips JSONB NOT NULL DEFAULT '[]';
