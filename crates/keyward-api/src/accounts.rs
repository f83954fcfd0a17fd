//! The people and service accounts of an organization as shown, and the
//! one response that shows an invitation's secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ShownOnce;

/// A pending invitation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
}

/// A new invitation: the only response that shows its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedInvitationView {
    #[serde(flatten)]
    pub invitation: InvitationView,
    /// The single-use secret to send to the invitee; accepted at
    /// `POST /v1/invitations/accept`. Shown once.
    #[schema(value_type = String)]
    pub token: ShownOnce,
}

/// A member of the organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

/// What removing a member or service account revoked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Removal {
    /// Ids of the tokens it owned, now revoked.
    pub revoked_tokens: Vec<String>,
}

/// A service account: issue tokens with `owner` set to its id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceAccountView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}
