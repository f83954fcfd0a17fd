//! `GET /v1/whoami`: who the presented credential acts as. Clients check a
//! token with it before storing it (`keyward login`), and people ask it why a
//! call was refused; so it needs no scope, only a valid credential.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use keyward_core::id::OrgId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{path_id, Caller};
use crate::AppState;

/// The caller: a management token or a signed-in session. Never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoamiView {
    /// `token` or `session`.
    pub kind: String,
    /// The management token's id (`tok_…`); null for a session.
    pub token_id: Option<String>,
    /// The management token's name; null for a session.
    pub token_name: Option<String>,
    /// Who owns the token (`usr_…`, `sa_…`, or `admin` for the first admin
    /// token); for a session, the signed-in user.
    pub owner: String,
    /// The person behind the credential (`usr_…`), when there is one:
    /// tokens of service accounts and the first admin token have none.
    pub user_id: Option<String>,
    /// The signed-in user's email; null for a token.
    pub email: Option<String>,
    /// That person's current role in the organization; null without a person.
    pub role: Option<String>,
    /// The organization it acts in.
    pub organization: WhoamiOrganization,
    /// The management scopes it holds now: a token's own, narrowed by its
    /// person's current role; a session's role's.
    pub scopes: Vec<String>,
    /// When the token expires (null: never), or when the session ends.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The organization a caller acts in.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoamiOrganization {
    pub id: String,
    pub name: String,
    /// Whether it is the deployment's operator organization.
    pub operator: bool,
}

/// Who the presented token or session acts as: its id, name, organization,
/// role and scopes, and when it expires. Needs no scope.
#[utoipa::path(get, path = "/v1/whoami", tag = "accounts",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = WhoamiView), (status = 401, body = Problem)))]
pub async fn whoami(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<WhoamiView>, ApiError> {
    let own: OrgId = path_id(actor.org_id(), || Ok(()))?;
    let organization = state.engine.get_organization(&actor, &own).await?;
    let principal = &actor.principal;
    let person = principal.person();
    let (kind, token_id, token_name, email, expires_at) = match (principal.token_record(), principal.signed_in()) {
        (Some(token), _) => ("token", Some(token.id.clone()), Some(token.name.clone()), None, token.expires_at),
        (None, Some(user)) => ("session", None, None, Some(user.email.clone()), Some(user.expires_at)),
        (None, None) => ("token", None, None, None, None),
    };
    Ok(Json(WhoamiView {
        kind: kind.into(),
        token_id,
        token_name,
        owner: principal.owner().to_owned(),
        user_id: person.map(|(user_id, _)| user_id.to_owned()),
        email,
        role: person.map(|(_, grant)| grant.role.as_str().to_owned()),
        organization: WhoamiOrganization {
            id: organization.id,
            name: organization.name,
            operator: organization.operator,
        },
        scopes: principal.scopes(),
        expires_at,
    }))
}
