//! Organizations (tenants) as shown, with their token policy, and the one
//! response that founds one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::keyspaces::KeyspaceView;
use crate::tokens::CreatedToken;

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

/// An organization (tenant).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    /// Whether this is the deployment's operator organization.
    pub operator: bool,
    /// The rules its tokens must follow.
    pub token_policy: TokenPolicyView,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A new organization and its first admin token: the only response that
/// shows that token's secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FoundedOrganization {
    pub organization: OrganizationView,
    /// Its management keyspace.
    pub management_keyspace: KeyspaceView,
    /// Its first admin token, holding every organization-level management scope.
    pub admin_token: CreatedToken,
}
