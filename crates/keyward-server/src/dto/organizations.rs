//! Organizations (tenants) and their founding.

use super::*;

/// `POST /v1/organizations`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// Human name, e.g. "Acme".
    pub name: String,
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

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        Self {
            id: o.id,
            name: o.name,
            operator: o.operator,
            token_policy: o.token_policy.into(),
            created_at: o.created_at,
            created_by: o.created_by,
        }
    }
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
