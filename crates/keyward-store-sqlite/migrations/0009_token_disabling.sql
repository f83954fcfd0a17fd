-- Disabling is the reversible stop: a disabled token answers DISABLED until
-- someone enables it again. Keyward itself disables tokens that went unused
-- longer than the organization allows; enabled_at restarts that count.
ALTER TABLE tokens ADD COLUMN disabled_at INTEGER;
ALTER TABLE tokens ADD COLUMN disabled_reason TEXT CHECK (disabled_reason IN ('user_action', 'inactivity'));
ALTER TABLE tokens ADD COLUMN enabled_at INTEGER;
