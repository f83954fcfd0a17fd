//! Keyspaces as shown, and the scope catalog entries both shown and sent.

use chrono::{DateTime, Utc};
use keyward_core::Environment;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One scope of a keyspace's catalog.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeEntry {
    /// `resource:action` (e.g. `invoices:read`) or an explicit wildcard
    /// (`invoices:*`); no resource binding.
    #[schema(example = "invoices:read")]
    pub scope: String,
    /// What it lets a token do, shown to users (1-200 characters).
    #[schema(example = "Read invoices")]
    pub description: String,
}

/// A keyspace.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyspaceView {
    pub id: String,
    /// The organization it belongs to.
    pub org_id: String,
    pub name: String,
    #[schema(value_type = String, example = "live")]
    pub environment: Environment,
    pub prefix: String,
    pub default_ttl_seconds: Option<i64>,
    /// The scopes its tokens may carry, with descriptions; `null`: any customer scope.
    pub scope_catalog: Option<Vec<ScopeEntry>>,
    /// Whether this is Keyward's own management keyspace.
    pub management: bool,
    /// Its own rotation period for tokens without theirs; `null`: the organization's.
    pub rotation_period_days: Option<u32>,
    /// Its own inactivity rule; `null`: the organization's.
    pub disable_after_inactive_days: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}
