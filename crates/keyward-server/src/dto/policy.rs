//! An organization's token policy and the tokens that break it.

use super::*;

/// An organization's token policy. Every field is optional; omitted means
/// no such rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenPolicyView {
    /// Longest lifetime a token may be given, in seconds.
    pub max_lifetime_seconds: Option<i64>,
    /// Lifetime for tokens created without an expiry, in seconds (at most the maximum).
    pub default_lifetime_seconds: Option<i64>,
    /// Whether every token must expire.
    pub require_expiry: bool,
    /// When set, the only customer scopes that may be granted (explicit wildcards allowed).
    pub grantable_scopes: Option<Vec<String>>,
    /// Whether every token must carry an IP allowlist.
    pub require_ip_allowlist: bool,
    /// Most active tokens one owner may hold.
    pub max_active_tokens_per_owner: Option<u32>,
    /// Longest grace period a rotation may give the old token, in seconds
    /// (0 to 7,776,000; a week when omitted).
    pub max_rotation_grace_seconds: Option<i64>,
    /// Disable customer tokens unused for this many days (1 to 3650),
    /// counted from the last use, creation or re-enabling. Warnings go out
    /// before (`token.inactivity_warning`). Management tokens are exempt.
    pub disable_after_inactive_days: Option<u32>,
    /// Days before an expiry or an inactivity disabling that warning events
    /// go out (at most 5, each 1 to 365); `[7, 1]` when omitted, `[]` for none.
    pub warning_days: Option<Vec<u32>>,
    /// Every token must be rotated at least this often, in days (1 to
    /// 3650), unless it sets its own period.
    pub rotation_period_days: Option<u32>,
}

impl From<TokenPolicyView> for TokenPolicy {
    fn from(view: TokenPolicyView) -> Self {
        Self {
            max_lifetime_seconds: view.max_lifetime_seconds,
            default_lifetime_seconds: view.default_lifetime_seconds,
            require_expiry: view.require_expiry,
            grantable_scopes: view.grantable_scopes,
            require_ip_allowlist: view.require_ip_allowlist,
            max_active_tokens_per_owner: view.max_active_tokens_per_owner,
            max_rotation_grace_seconds: view.max_rotation_grace_seconds,
            disable_after_inactive_days: view.disable_after_inactive_days,
            warning_days: view.warning_days,
            rotation_period_days: view.rotation_period_days,
        }
    }
}

impl From<TokenPolicy> for TokenPolicyView {
    fn from(policy: TokenPolicy) -> Self {
        Self {
            max_lifetime_seconds: policy.max_lifetime_seconds,
            default_lifetime_seconds: policy.default_lifetime_seconds,
            require_expiry: policy.require_expiry,
            grantable_scopes: policy.grantable_scopes,
            require_ip_allowlist: policy.require_ip_allowlist,
            max_active_tokens_per_owner: policy.max_active_tokens_per_owner,
            max_rotation_grace_seconds: policy.max_rotation_grace_seconds,
            disable_after_inactive_days: policy.disable_after_inactive_days,
            warning_days: policy.warning_days,
            rotation_period_days: policy.rotation_period_days,
        }
    }
}

/// A token that breaks its organization's current policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyFindingView {
    pub token: TokenView,
    pub violations: Vec<crate::error::PolicyViolationView>,
}
