//! People and sessions: sign-up, sign-in, passwords, invitations,
//! members and service accounts. Bodies carrying a password have no
//! `Debug`.

pub use keyward_api::accounts::*;

use super::*;

/// `POST /v1/sessions/current/confirm-password`
// No Debug: it carries a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPassword {
    pub password: String,
}

/// `POST /v1/signup` (only when the operator enabled open sign-up)
// No Debug: it carries a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    /// 12 to 256 characters.
    pub password: String,
    /// The organization to found, which the new user owns.
    pub organization_name: String,
}

/// `POST /v1/sessions`
// No Debug: it carries a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// The organization to act in; the oldest membership when omitted.
    pub organization_id: Option<String>,
}

/// A password change: the current password, and the new one.
// No Debug: it carries passwords.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    /// 12 to 1024 characters.
    pub new_password: String,
}

/// A signed-in session. Its secret travels only in the
/// `__Host-keyward_session` cookie (HttpOnly); send `csrf_token` as
/// `X-CSRF-Token` with every request that changes something.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub session_id: String,
    pub user_id: String,
    pub email: String,
    pub organization_id: String,
    /// `owner`, `admin`, `developer` or `viewer`.
    pub role: String,
    /// The management scopes the role allows.
    pub scopes: Vec<String>,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/invitations`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteMember {
    pub email: String,
    /// `owner`, `admin`, `developer` or `viewer`; at most the inviter's own standing.
    pub role: String,
    /// Seconds until it expires (default 7 days, at most 30).
    pub expires_in: Option<i64>,
}

impl IntoView<InvitationView> for keyward_core::model::Invitation {
    fn into_view(self) -> InvitationView {
        let i = self;
        InvitationView {
            id: i.id,
            email: i.email,
            role: i.role.as_str().into(),
            created_at: i.created_at,
            created_by: i.created_by,
            expires_at: i.expires_at,
        }
    }
}

/// `POST /v1/invitations/accept`
// No Debug: it carries a password and the invitation's secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The invitation's secret.
    pub token: String,
    /// A new password (12–256 characters), or the existing account's.
    pub password: String,
}

impl IntoView<MemberView> for keyward_core::model::Member {
    fn into_view(self) -> MemberView {
        let m = self;
        MemberView { user_id: m.user_id, email: m.email, role: m.role.as_str().into(), joined_at: m.joined_at }
    }
}

/// `PATCH /v1/members/{user_id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// `owner`, `admin`, `developer` or `viewer`.
    pub role: String,
}

/// `POST /v1/service-accounts`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// Unique within the organization, e.g. "billing deploys".
    pub name: String,
}

impl IntoView<ServiceAccountView> for keyward_core::model::ServiceAccount {
    fn into_view(self) -> ServiceAccountView {
        let a = self;
        ServiceAccountView { id: a.id, name: a.name, created_at: a.created_at, created_by: a.created_by }
    }
}
