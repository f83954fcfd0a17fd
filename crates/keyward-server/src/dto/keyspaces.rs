//! Keyspaces and their scope catalogs and lifecycle rules.

use super::*;

/// `POST /v1/keyspaces`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyspace {
    /// Human name, e.g. "payments".
    pub name: String,
    /// `live` or `test`.
    #[schema(value_type = String, example = "live")]
    pub environment: Environment,
    /// Token prefix (2-12 lowercase letters/digits); the server default when omitted.
    pub prefix: Option<String>,
    /// Lifetime in seconds for tokens created without an expiry.
    pub default_ttl_seconds: Option<i64>,
    /// The scopes its tokens may carry, each with a description for the
    /// people choosing them (at most 256). Omitted: any customer scope.
    pub scope_catalog: Option<Vec<ScopeEntry>>,
    /// Rotation period in days (1 to 3650) of its tokens without their own,
    /// overriding the organization's policy.
    pub rotation_period_days: Option<u32>,
    /// Disable its tokens unused this many days (1 to 3650), overriding the
    /// organization's policy.
    pub disable_after_inactive_days: Option<u32>,
}

/// `PUT /v1/keyspaces/{id}/lifecycle`: replaces both rules; an omitted or
/// `null` one falls back to the organization's policy.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyspaceLifecycleRules {
    pub rotation_period_days: Option<u32>,
    pub disable_after_inactive_days: Option<u32>,
}

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

impl From<ScopeEntry> for CatalogScope {
    fn from(entry: ScopeEntry) -> Self {
        Self { scope: entry.scope, description: entry.description }
    }
}

impl From<CatalogScope> for ScopeEntry {
    fn from(entry: CatalogScope) -> Self {
        Self { scope: entry.scope, description: entry.description }
    }
}

/// `PUT /v1/keyspaces/{id}/scope-catalog`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceScopeCatalog {
    /// The whole new catalog; `null` lifts the restriction (any customer scope).
    pub scope_catalog: Option<Vec<ScopeEntry>>,
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

impl From<Keyspace> for KeyspaceView {
    fn from(k: Keyspace) -> Self {
        Self {
            id: k.id,
            org_id: k.org_id,
            name: k.name,
            environment: k.environment,
            prefix: k.prefix.as_str().to_owned(),
            default_ttl_seconds: k.default_ttl_seconds,
            scope_catalog: k.scope_catalog.map(|catalog| catalog.into_iter().map(Into::into).collect()),
            management: k.management,
            rotation_period_days: k.rotation_period_days,
            disable_after_inactive_days: k.disable_after_inactive_days,
            created_at: k.created_at,
            created_by: k.created_by,
        }
    }
}
