//! Tokens: the requests (creation, rotation, revocation, bulk revocation,
//! changes, list filters) and how a stored token becomes its view; the
//! views themselves are keyward-api's, shared with the CLI.

pub use keyward_api::tokens::*;

use super::*;

/// `POST /v1/tokens`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub keyspace_id: String,
    pub name: String,
    /// Scopes to grant. Required (may be empty): nothing is granted implicitly.
    pub scopes: Vec<String>,
    /// Owning principal; the caller's owner when omitted.
    pub owner: Option<String>,
    /// Lifetime: seconds (`3600`) or a duration such as `"12h"`, `"30d"`
    /// (the presets are `"7d"`, `"30d"`, `"60d"`, `"90d"`, `"365d"`).
    /// Exclusive with `expires_at`.
    #[serde(default, deserialize_with = "seconds_or_duration")]
    #[schema(value_type = Option<String>, example = "30d")]
    pub expires_in: Option<i64>,
    /// Exact expiry (RFC 3339). Exclusive with `expires_in`.
    pub expires_at: Option<DateTime<Utc>>,
    /// Small JSON object (at most 4 KiB).
    #[schema(value_type = Object)]
    pub metadata: Option<Value>,
    /// Networks it may be used from: CIDRs or single addresses, IPv4 or
    /// IPv6 (at most 64). Omitted or empty: anywhere.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Rotate it at least this often, in days (1 to 3650), overriding the
    /// organization's `rotation_period_days`. Due tokens are flagged with
    /// `rotation_due` and announced once with a `token.rotation_due` event.
    pub rotation_period_days: Option<u32>,
    /// Opt in to automatic rotation: when the rotation falls due, Keyward
    /// rotates the token itself and delivers the new one to this webhook
    /// endpoint (a `token.auto_rotated` event carrying `data.token`). Needs
    /// a rotation period (the token's own or the organization's).
    pub auto_rotate: Option<AutoRotateRequest>,
}

/// An opt-in to automatic rotation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRotateRequest {
    /// The webhook endpoint (`whk_…`) that receives the new token.
    pub webhook_id: String,
    /// How long the old token keeps verifying after each automatic
    /// rotation: seconds or a duration such as `"1d"`; at least 60 seconds
    /// and at most the organization's maximum grace. Default: 1 day.
    #[serde(default, deserialize_with = "seconds_or_duration")]
    #[schema(value_type = Option<String>, example = "1d")]
    pub grace_period: Option<i64>,
}

/// The default grace of an automatic rotation: a day for the receiver to switch.
const DEFAULT_AUTO_ROTATE_GRACE_SECONDS: i64 = 86_400;

impl AutoRotateRequest {
    /// The engine's form, or a 400 naming the field.
    pub fn into_auto_rotate(self) -> Result<keyward_core::model::AutoRotate, crate::error::ApiError> {
        let seconds = self.grace_period.unwrap_or(DEFAULT_AUTO_ROTATE_GRACE_SECONDS);
        let grace_period_seconds = u32::try_from(seconds).map_err(|_| {
            crate::error::ApiError::invalid_field("auto_rotate.grace_period", "must be a positive number of seconds")
        })?;
        Ok(keyward_core::model::AutoRotate { webhook_id: self.webhook_id, grace_period_seconds })
    }
}

/// How a stored token becomes its view. A trait because the view is
/// keyward-api's type and the rules (policy, rotation periods) are the
/// engine's, which keyward-api does not know.
pub trait TokenViews: Sized {
    /// The view without the policy at hand: only the token's own rotation
    /// period counts (reads and updates use [`TokenViews::flagged`]).
    fn new(record: TokenRecord, now_micros: i64) -> Self;

    /// The view, flagged with the rules of `policy` the token breaks and
    /// judged against its keyspace's or organization's rotation period as well.
    fn flagged(
        record: TokenRecord,
        now_micros: i64,
        policy: &TokenPolicy,
        periods: &keyward_engine::RotationPeriods,
    ) -> Self;
}

impl TokenViews for TokenView {
    fn new(record: TokenRecord, now_micros: i64) -> Self {
        build(record, now_micros, None, Vec::new())
    }

    fn flagged(
        record: TokenRecord,
        now_micros: i64,
        policy: &TokenPolicy,
        periods: &keyward_engine::RotationPeriods,
    ) -> Self {
        let violations = keyward_engine::Engine::violations_of(policy, &record);
        let codes = violations.iter().map(|v| v.code().to_owned()).collect();
        let default_days = periods.for_keyspace(&record.keyspace_id);
        build(record, now_micros, default_days, codes)
    }
}

/// The view of `record` as of `now_micros`, under the given default
/// rotation period and with the policy rules it breaks.
fn build(
    record: TokenRecord,
    now_micros: i64,
    default_rotation_days: Option<u32>,
    policy_violations: Vec<String>,
) -> TokenView {
    let state = record.state_at(now_micros);
    let rotation_due_at = keyward_core::lifecycle::rotation_due_at(&record, default_rotation_days).map(|(at, _)| at);
    // Only a live token has anything left to rotate.
    let live = state == keyward_core::model::TokenState::Active && !record.is_replaced();
    let rotation_due = live && rotation_due_at.is_some_and(|at| now_micros >= at.timestamp_micros());
    let (revoked_at, revoked_reason) = (record.revoked_at(), record.revoked_reason());
    let (disabled_at, disabled_reason) = (record.disabled_at(), record.disabled_reason());
    let (replaced_by, rotated_at) = (record.replaced_by().map(str::to_owned), record.rotated_at());
    TokenView {
        masked: record.masked(),
        state: state.as_str().to_owned(),
        in_rotation_grace: record.in_rotation_grace(now_micros),
        rotation_period_days: record.rotation_period_days,
        rotation_due_at,
        rotation_due,
        auto_rotate: record.auto_rotate.map(|auto| AutoRotateView {
            webhook_id: auto.webhook_id,
            grace_period_seconds: auto.grace_period_seconds,
        }),
        id: record.id,
        name: record.name,
        org_id: record.org_id,
        keyspace_id: record.keyspace_id,
        environment: record.environment,
        owner: record.owner,
        scopes: record.scopes,
        allowed_ips: record.allowed_ips,
        metadata: record.metadata,
        created_at: record.created_at,
        created_by: record.created_by,
        parent_token_id: record.parent_token_id,
        expiry_ceiling: record.expiry_ceiling,
        expires_at: record.expires_at,
        revoked_at,
        revoked_reason,
        disabled_at,
        disabled_reason,
        rotated_from: record.rotated_from,
        replaced_by,
        rotated_at,
        last_used_at: record.usage.last_used_at,
        use_count: record.usage.use_count,
        policy_violations,
    }
}

/// `POST /v1/tokens/{id}/rotate`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateToken {
    /// Seconds the old token keeps verifying beside the new one; 0 revokes
    /// it now. At most the organization's `max_rotation_grace_seconds`
    /// (a week unless its policy says otherwise).
    pub grace_period: i64,
    /// Lifetime of the new token in seconds; by default the old token's
    /// lifetime, counted from now.
    pub expires_in: Option<i64>,
}

/// `POST /v1/tokens/{id}/grace`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGrace {
    /// Seconds from now until the grace period ends: more to give slow
    /// clients time (never past the token's own expiry), 0 to end it now.
    pub ends_in: i64,
}

/// `POST /v1/tokens/{id}/revoke` (the body may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeToken {
    /// `user_action` (default), `policy`, `leaked` or `suspicious_activity`.
    pub reason: Option<String>,
    /// Management tokens only: also revoke every management token made
    /// under this one, transitively, in one transaction.
    #[serde(default)]
    pub with_descendants: bool,
    /// With `with_descendants`: also revoke the customer tokens those
    /// management tokens made (kept by default).
    #[serde(default)]
    pub customer_tokens: bool,
}

/// `POST /v1/tokens/bulk-revoke`: every active token matching all the
/// filters given (at least one of `owner`, `keyspace_id`, `name_prefix`, `scope`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRevokeRequest {
    /// An owner's id, a member's email (naming that member), or free text.
    pub owner: Option<String>,
    pub keyspace_id: Option<String>,
    /// Tokens whose name starts with this (case-sensitive, no wildcards).
    pub name_prefix: Option<String>,
    /// Tokens holding this exact scope as granted (`invoices:*` matches
    /// tokens granted that wildcard, not those granted `invoices:read`).
    pub scope: Option<String>,
    /// Only these tokens (a selection, at most 500 ids); combines with the other filters.
    #[serde(default)]
    pub ids: Vec<String>,
    /// `user_action` (default), `policy`, `leaked` or `suspicious_activity`.
    pub reason: Option<String>,
    /// Only count the matching tokens; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Revoke only if exactly this many match (pass the dry run's `matched`);
    /// otherwise 409 `count_changed` and nothing is revoked.
    pub expected_count: Option<u64>,
}

impl IntoView<TokenClientView> for keyward_store::ClientSighting {
    fn into_view(self) -> TokenClientView {
        let sighting = self;
        TokenClientView {
            client_ip: sighting.client_ip,
            user_agent: sighting.user_agent,
            uses: sighting.uses,
            first_seen_at: sighting.first_seen_at,
            last_seen_at: sighting.last_seen_at,
        }
    }
}

/// `PATCH /v1/tokens/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateToken {
    pub name: Option<String>,
    /// Replaces the whole metadata object.
    #[schema(value_type = Object)]
    pub metadata: Option<Value>,
    /// Replaces the scopes, under the same rules as at creation.
    pub scopes: Option<Vec<String>>,
    /// Must be `true` when the new scopes grant anything the old ones did
    /// not; otherwise the change is refused with `confirmation_required`.
    #[serde(default)]
    pub confirm_broader_scopes: bool,
    /// Replaces the IP allowlist; `[]` lifts the restriction.
    pub allowed_ips: Option<Vec<String>>,
    /// Its own rotation period in days; `null` falls back to the
    /// organization's policy.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<u32>)]
    pub rotation_period_days: Option<Option<u32>>,
    /// Opt in to automatic rotation (as at creation); `null` opts out.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<AutoRotateRequest>)]
    pub auto_rotate: Option<Option<AutoRotateRequest>>,
}

/// Filters for `GET /v1/tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    pub keyspace_id: Option<String>,
    /// An owner's id, a member's email (naming that member), or free text.
    pub owner: Option<String>,
    /// `active`, `expired`, `disabled` or `revoked`.
    pub state: Option<String>,
    /// Tokens whose name contains this (ASCII case ignored, no wildcards).
    pub name: Option<String>,
    /// Tokens holding this exact scope as granted.
    pub scope: Option<String>,
    /// `created`, `expires`, `last_used` or `name`; `-` in front for
    /// largest (newest, latest, Z) first. Default `-created`. Ties are
    /// broken by id; a token that never expires sorts as latest, one never
    /// used as earliest.
    pub order: Option<String>,
    /// 1-200; default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page, in the same order.
    pub cursor: Option<String>,
}
