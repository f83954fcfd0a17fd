//! Keyspaces: the requests and how a stored keyspace becomes its view
//! (keyward-api's, shared with the CLI).

pub use keyward_api::keyspaces::*;

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

/// The engine's form of a catalog entry a request sent.
pub fn catalog_scope(entry: ScopeEntry) -> CatalogScope {
    CatalogScope { scope: entry.scope, description: entry.description }
}

impl IntoView<ScopeEntry> for CatalogScope {
    fn into_view(self) -> ScopeEntry {
        ScopeEntry { scope: self.scope, description: self.description }
    }
}

/// `PUT /v1/keyspaces/{id}/scope-catalog`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceScopeCatalog {
    /// The whole new catalog; `null` lifts the restriction (any customer scope).
    pub scope_catalog: Option<Vec<ScopeEntry>>,
}

impl IntoView<KeyspaceView> for Keyspace {
    fn into_view(self) -> KeyspaceView {
        let k = self;
        KeyspaceView {
            id: k.id,
            org_id: k.org_id,
            name: k.name,
            environment: k.environment,
            prefix: k.prefix.as_str().to_owned(),
            default_ttl_seconds: k.default_ttl_seconds,
            scope_catalog: k.scope_catalog.map(|catalog| catalog.into_iter().map(IntoView::into_view).collect()),
            management: k.management,
            rotation_period_days: k.rotation_period_days,
            disable_after_inactive_days: k.disable_after_inactive_days,
            created_at: k.created_at,
            created_by: k.created_by,
        }
    }
}
