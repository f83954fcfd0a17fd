//! Tokens as shown: the view without a secret, the responses that carry
//! one once, and what revocation, bulk revocation and grace clients return.

use chrono::{DateTime, Utc};
use keyward_core::ip::IpNet;
use keyward_core::model::{DisabledReason, RevokedReason};
use keyward_core::Environment;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ShownOnce;

/// A token's automatic rotation, as shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AutoRotateView {
    /// The endpoint that receives each replacement.
    pub webhook_id: String,
    /// How long the old token keeps verifying after each automatic rotation.
    pub grace_period_seconds: u32,
}

/// A token, without its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// `kw_live_…AbC1`: prefix, environment and the last four characters.
    pub masked: String,
    /// The organization it belongs to.
    pub org_id: String,
    pub keyspace_id: String,
    #[schema(value_type = String, example = "live")]
    pub environment: Environment,
    pub owner: String,
    pub scopes: Vec<String>,
    /// Networks it may be used from; empty: anywhere.
    #[schema(value_type = Vec<String>, example = json!(["203.0.113.0/24"]))]
    pub allowed_ips: Vec<IpNet>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// `active`, `expired`, `disabled` or `revoked`, as of the response.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The management token whose authority made it (that issued it, or
    /// rotated the token it replaces); `null` when a person or Keyward made
    /// it. `POST /v1/tokens/{id}/revoke` with `with_descendants` follows these links.
    pub parent_token_id: Option<String>,
    /// For a management token bounded by an expiring token (that minted it,
    /// founded its organization, or rotated it): the latest any rotation of
    /// it may expire. `null` when no expiring token bounded it.
    pub expiry_ceiling: Option<DateTime<Utc>>,
    /// When it stops verifying; for a rotated token, the end of its grace period.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `user_action`, `rotation`, `policy`, `leaked`, `suspicious_activity`
    /// or `member_removed`; set with `revoked_at`.
    #[schema(value_type = Option<String>, example = "leaked")]
    pub revoked_reason: Option<RevokedReason>,
    /// When it was disabled, if it is (`POST /v1/tokens/{id}/enable` undoes it).
    pub disabled_at: Option<DateTime<Utc>>,
    /// `user_action` or `inactivity`; set with `disabled_at`.
    #[schema(value_type = Option<String>, example = "inactivity")]
    pub disabled_reason: Option<DisabledReason>,
    /// The token this one replaced by rotation.
    pub rotated_from: Option<String>,
    /// The token that replaced this one by rotation.
    pub replaced_by: Option<String>,
    /// When it was replaced by rotation.
    pub rotated_at: Option<DateTime<Utc>>,
    /// Whether it was rotated and still verifies: its clients should move
    /// to `replaced_by` before `expires_at`. See `GET /v1/tokens/{id}/clients`.
    pub in_rotation_grace: bool,
    /// Its own rotation period in days (else the organization's applies).
    pub rotation_period_days: Option<u32>,
    /// When its rotation is or was due, under its own period or the
    /// organization's; `null` when no period applies.
    pub rotation_due_at: Option<DateTime<Utc>>,
    /// Whether it is live and past `rotation_due_at`: rotate it.
    pub rotation_due: bool,
    /// Its owner's opt-in to automatic rotation, if any.
    pub auto_rotate: Option<AutoRotateView>,
    /// Updated in batches (about once a second).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Successful verifications, updated in batches.
    pub use_count: i64,
    /// Codes of the organization's current token-policy rules this token
    /// breaks (it was made before them); empty when it complies.
    pub policy_violations: Vec<String>,
}

/// The one response that carries a token's secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token. Shown once: store it now; it cannot be retrieved again.
    #[schema(value_type = String)]
    pub token: ShownOnce,
    #[serde(flatten)]
    pub view: TokenView,
    /// For a management token made by a management token: the fields it
    /// took from that token because the request left them open
    /// (`expires_at`, `allowed_ips`); empty otherwise.
    #[serde(default)]
    pub inherited_from_parent: Vec<String>,
}

/// The new token of a rotation (its secret shown once) and the old one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedToken {
    /// The new token. Shown once: store it now; it cannot be retrieved again.
    #[schema(value_type = String)]
    pub token: ShownOnce,
    #[serde(flatten)]
    pub view: TokenView,
    /// The replaced token: it verifies until its `expires_at` (the grace end).
    pub old_token: TokenView,
}

/// A revoked token, and with `with_descendants` the tokens revoked with it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The descendants this call revoked (present only with `with_descendants`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descendants_revoked: Option<Vec<TokenView>>,
}

/// What a bulk revocation matched and revoked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkRevokeResponse {
    pub dry_run: bool,
    /// Active tokens matching (the calling token is never included).
    pub matched: u64,
    /// The tokens revoked; empty for a dry run.
    pub revoked: Vec<TokenView>,
}

/// A client seen using a token during its rotation grace period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenClientView {
    /// The address it was presented from, when known.
    pub client_ip: Option<String>,
    /// The client's user agent, when known.
    pub user_agent: Option<String>,
    /// Successful verifications.
    pub uses: u64,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Clients of one token, most recent first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenClients {
    /// At most 100 distinct (address, user agent) pairs.
    pub data: Vec<TokenClientView>,
}
