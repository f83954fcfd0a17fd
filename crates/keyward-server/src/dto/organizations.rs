//! Organizations (tenants): the founding request and how a stored
//! organization becomes its view (keyward-api's, shared with the CLI).

pub use keyward_api::organizations::*;

use super::*;

/// `POST /v1/organizations`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// Human name, e.g. "Acme".
    pub name: String,
}

impl IntoView<OrganizationView> for Organization {
    fn into_view(self) -> OrganizationView {
        let o = self;
        OrganizationView {
            id: o.id,
            name: o.name,
            operator: o.operator,
            token_policy: o.token_policy.into_view(),
            created_at: o.created_at,
            created_by: o.created_by,
        }
    }
}
