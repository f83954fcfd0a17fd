-- Each organization's token policy, a JSON object (see keyward_core::policy);
-- '{}' sets no rule.
ALTER TABLE organizations ADD COLUMN token_policy TEXT NOT NULL DEFAULT '{}';
