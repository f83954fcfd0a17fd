//! The wire shapes of the API. Requests reject unknown fields; responses
//! never contain a digest, and a secret only in [`CreatedToken`].

use chrono::{DateTime, Utc};
use keyward_core::ip::IpNet;
use keyward_core::model::{
    AuditEvent, CatalogScope, DisabledReason, Keyspace, Organization, RevokedReason, TokenRecord,
};
use keyward_core::policy::TokenPolicy;
use keyward_core::Environment;
use keyward_engine::{Verdict, VerifyCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// A secret in the one response that shows it. Serialized as the plain
/// string; its `Debug` prints a placeholder, so no log line, panic message
/// or test failure built from a response can carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShownOnce(String);

impl ShownOnce {
    /// The response field for `secret`.
    pub fn new(secret: &keyward_core::SecretToken) -> Self {
        Self(secret.expose().to_owned())
    }
}

impl std::fmt::Debug for ShownOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShownOnce(<redacted>)")
    }
}

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

/// A page of results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The wire form of a store page, each item mapped by `view`.
    pub fn from_store<S>(page: keyward_store::Page<S>, view: impl FnMut(S) -> T) -> Self {
        Self { data: page.items.into_iter().map(view).collect(), next_cursor: page.next.map(|cursor| cursor.encode()) }
    }
}

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

impl TokenView {
    /// The view without the policy at hand: only the token's own rotation
    /// period counts (reads and updates use [`TokenView::flagged`]).
    pub fn new(record: TokenRecord, now_micros: i64) -> Self {
        Self::build(record, now_micros, None, Vec::new())
    }

    /// The view, flagged with the rules of `policy` the token breaks and
    /// judged against its keyspace's or organization's rotation period as well.
    pub fn flagged(
        record: TokenRecord,
        now_micros: i64,
        policy: &TokenPolicy,
        periods: &keyward_engine::RotationPeriods,
    ) -> Self {
        let violations = keyward_engine::Engine::violations_of(policy, &record);
        let codes = violations.iter().map(|v| v.code().to_owned()).collect();
        let default_days = periods.for_keyspace(&record.keyspace_id);
        Self::build(record, now_micros, default_days, codes)
    }

    fn build(
        record: TokenRecord,
        now_micros: i64,
        default_rotation_days: Option<u32>,
        policy_violations: Vec<String>,
    ) -> Self {
        let state = record.state_at(now_micros);
        let rotation_due_at =
            keyward_core::lifecycle::rotation_due_at(&record, default_rotation_days).map(|(at, _)| at);
        // Only a live token has anything left to rotate.
        let live = state == keyward_core::model::TokenState::Active && record.replaced_by.is_none();
        let rotation_due = live && rotation_due_at.is_some_and(|at| now_micros >= at.timestamp_micros());
        Self {
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
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            revoked_reason: record.revoked_reason,
            disabled_at: record.disabled_at,
            disabled_reason: record.disabled_reason,
            rotated_from: record.rotated_from,
            replaced_by: record.replaced_by,
            rotated_at: record.rotated_at,
            last_used_at: record.last_used_at,
            use_count: record.use_count,
            policy_violations,
        }
    }
}

/// An organization's token policy. Every field is optional; omitted means
/// no such rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenPolicyView {
    /// Longest lifetime a token may be given, in seconds.
    pub max_lifetime_seconds: Option<i64>,
    /// Lifetime for tokens created without an expiry, in seconds (at most the maximum).
    pub default_lifetime_seconds: Option<i64>,
    /// Whether every token must expire.
    pub require_expiry: bool,
    /// When set, the only customer scopes that may be granted (explicit wildcards allowed).
    pub grantable_scopes: Option<Vec<String>>,
    /// Whether every token must carry an IP allowlist.
    pub require_ip_allowlist: bool,
    /// Most active tokens one owner may hold.
    pub max_active_tokens_per_owner: Option<u32>,
    /// Longest grace period a rotation may give the old token, in seconds
    /// (0 to 7,776,000; a week when omitted).
    pub max_rotation_grace_seconds: Option<i64>,
    /// Disable customer tokens unused for this many days (1 to 3650),
    /// counted from the last use, creation or re-enabling. Warnings go out
    /// before (`token.inactivity_warning`). Management tokens are exempt.
    pub disable_after_inactive_days: Option<u32>,
    /// Days before an expiry or an inactivity disabling that warning events
    /// go out (at most 5, each 1 to 365); `[7, 1]` when omitted, `[]` for none.
    pub warning_days: Option<Vec<u32>>,
    /// Every token must be rotated at least this often, in days (1 to
    /// 3650), unless it sets its own period.
    pub rotation_period_days: Option<u32>,
}

impl From<TokenPolicyView> for TokenPolicy {
    fn from(view: TokenPolicyView) -> Self {
        Self {
            max_lifetime_seconds: view.max_lifetime_seconds,
            default_lifetime_seconds: view.default_lifetime_seconds,
            require_expiry: view.require_expiry,
            grantable_scopes: view.grantable_scopes,
            require_ip_allowlist: view.require_ip_allowlist,
            max_active_tokens_per_owner: view.max_active_tokens_per_owner,
            max_rotation_grace_seconds: view.max_rotation_grace_seconds,
            disable_after_inactive_days: view.disable_after_inactive_days,
            warning_days: view.warning_days,
            rotation_period_days: view.rotation_period_days,
        }
    }
}

impl From<TokenPolicy> for TokenPolicyView {
    fn from(policy: TokenPolicy) -> Self {
        Self {
            max_lifetime_seconds: policy.max_lifetime_seconds,
            default_lifetime_seconds: policy.default_lifetime_seconds,
            require_expiry: policy.require_expiry,
            grantable_scopes: policy.grantable_scopes,
            require_ip_allowlist: policy.require_ip_allowlist,
            max_active_tokens_per_owner: policy.max_active_tokens_per_owner,
            max_rotation_grace_seconds: policy.max_rotation_grace_seconds,
            disable_after_inactive_days: policy.disable_after_inactive_days,
            warning_days: policy.warning_days,
            rotation_period_days: policy.rotation_period_days,
        }
    }
}

/// A token that breaks its organization's current policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyFindingView {
    pub token: TokenView,
    pub violations: Vec<crate::error::PolicyViolationView>,
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

/// A revoked token, and with `with_descendants` the tokens revoked with it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The descendants this call revoked (present only with `with_descendants`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descendants_revoked: Option<Vec<TokenView>>,
}

/// `POST /v1/sessions/current/confirm-password`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPassword {
    pub password: String,
}

/// `POST /v1/tokens/bulk-revoke`: every active token matching all the
/// filters given (at least one of `owner`, `keyspace_id`, `name_prefix`, `scope`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRevokeRequest {
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

impl From<keyward_store::ClientSighting> for TokenClientView {
    fn from(sighting: keyward_store::ClientSighting) -> Self {
        Self {
            client_ip: sighting.client_ip,
            user_agent: sighting.user_agent,
            uses: sighting.uses,
            first_seen_at: sighting.first_seen_at,
            last_seen_at: sighting.last_seen_at,
        }
    }
}

/// Clients of one token, most recent first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenClients {
    /// At most 100 distinct (address, user agent) pairs.
    pub data: Vec<TokenClientView>,
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

/// A lifetime given as a number of seconds or as a duration text.
fn seconds_or_duration<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lifetime {
        Seconds(i64),
        Text(String),
    }
    match Option::<Lifetime>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Lifetime::Seconds(seconds)) => Ok(Some(seconds)),
        Some(Lifetime::Text(text)) => {
            keyward_core::validate::duration_seconds(&text).map(Some).map_err(serde::de::Error::custom)
        }
    }
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Filters for `GET /v1/tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    pub keyspace_id: Option<String>,
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

/// Paging for `GET /v1/keyspaces`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-200; default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `POST /v1/verify`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The token presented to your service.
    pub token: String,
    /// Scopes the token must all hold.
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// The address your client connected from. Tokens with an IP allowlist
    /// answer `FORBIDDEN_IP` when it is outside the list or missing.
    pub client_ip: Option<String>,
    /// The keyspace the token must belong to. A token of any other keyspace
    /// (for example a `test` token checked against a `live` keyspace)
    /// answers `NOT_FOUND`.
    pub keyspace_id: Option<String>,
    /// Your client's `User-Agent`. Recorded only for rotated tokens in their
    /// grace period, so their owner can see which clients still use them.
    pub user_agent: Option<String>,
}

/// The verdict. Always HTTP 200; switch on `valid` and `code`. Borrowed
/// from the verification cache: the hot path serializes without copying.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse<'a> {
    pub valid: bool,
    /// `VALID`, `MALFORMED`, `NOT_FOUND`, `EXPIRED`, `REVOKED`, `DISABLED`,
    /// `FORBIDDEN_IP` or `INSUFFICIENT_SCOPE`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub token_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub keyspace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// For `REVOKED`: `user_action`, `rotation`, `policy`, `leaked`,
    /// `suspicious_activity` or `member_removed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub revoked_reason: Option<&'static str>,
    /// For `DISABLED`: `user_action` or `inactivity` (it verifies again once enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub disabled_reason: Option<&'static str>,
    /// For `EXPIRED`: `LIFETIME_ENDED`, or `ROTATION_GRACE_ENDED` for a
    /// token replaced by rotation whose grace period is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expired_reason: Option<&'static str>,
    /// For `VALID`: present (and `true`) when the token was rotated and
    /// verifies only until `expires_at`; tell its client to switch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_rotation_grace: Option<bool>,
    /// Required scopes the token lacks (for `INSUFFICIENT_SCOPE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub missing_scopes: Option<Vec<&'a str>>,
}

impl<'a> From<Verdict<'a>> for VerifyResponse<'a> {
    fn from(verdict: Verdict<'a>) -> Self {
        let token = verdict.token();
        let missing = verdict.missing_scopes();
        Self {
            valid: verdict.is_valid(),
            code: verdict.code.as_str(),
            token_id: token.map(|t| t.id.as_str()),
            name: token.map(|t| t.name.as_str()),
            keyspace_id: token.map(|t| t.keyspace_id.as_str()),
            environment: token.map(|t| t.environment),
            owner: token.map(|t| t.owner.as_str()),
            scopes: token.map(|t| t.scopes.as_slice()),
            metadata: token.map(|t| &t.metadata),
            expires_at: token.and_then(|t| t.expires_at),
            revoked_at: token.and_then(|t| t.revoked_at),
            revoked_reason: match verdict.code {
                VerifyCode::Revoked => token.and_then(|t| t.revoked_reason).map(RevokedReason::as_str),
                _ => None,
            },
            disabled_reason: match verdict.code {
                VerifyCode::Disabled => token.and_then(|t| t.disabled_reason).map(DisabledReason::as_str),
                _ => None,
            },
            expired_reason: match verdict.code {
                VerifyCode::Expired => token.map(|t| t.expiry_cause().as_str()),
                _ => None,
            },
            in_rotation_grace: (verdict.is_valid() && token.is_some_and(|t| t.replaced_by.is_some())).then_some(true),
            missing_scopes: (!missing.is_empty()).then_some(missing),
        }
    }
}

/// Filters for `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Token id of the actor.
    pub actor: Option<String>,
    /// e.g. `token.revoked`.
    pub action: Option<String>,
    /// Id of the token or keyspace acted on.
    pub target_id: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Events before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// 1-200; default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An audit event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    /// Token id of the caller, or `system`.
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            actor: e.actor,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            request_id: e.request_id,
            source_ip: e.source_ip,
            details: e.details,
        }
    }
}

/// Health answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// What an operator should act on soon although the server is ready
    /// (a TLS certificate expiring within two weeks); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A whole list (members, invitations and service accounts are few).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
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

impl From<keyward_core::model::Invitation> for InvitationView {
    fn from(i: keyward_core::model::Invitation) -> Self {
        Self {
            id: i.id,
            email: i.email,
            role: i.role.as_str().into(),
            created_at: i.created_at,
            created_by: i.created_by,
            expires_at: i.expires_at,
        }
    }
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

/// A member of the organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

impl From<keyward_core::model::Member> for MemberView {
    fn from(m: keyward_core::model::Member) -> Self {
        Self { user_id: m.user_id, email: m.email, role: m.role.as_str().into(), joined_at: m.joined_at }
    }
}

/// `PATCH /v1/members/{user_id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// `owner`, `admin`, `developer` or `viewer`.
    pub role: String,
}

/// What removing a member or service account revoked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Removal {
    /// Ids of the tokens it owned, now revoked.
    pub revoked_tokens: Vec<String>,
}

/// `POST /v1/service-accounts`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// Unique within the organization, e.g. "billing deploys".
    pub name: String,
}

/// A service account: issue tokens with `owner` set to its id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceAccountView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<keyward_core::model::ServiceAccount> for ServiceAccountView {
    fn from(a: keyward_core::model::ServiceAccount) -> Self {
        Self { id: a.id, name: a.name, created_at: a.created_at, created_by: a.created_by }
    }
}

/// `POST /v1/webhooks`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: https, or http to localhost.
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// Event types to receive, e.g. `["token.revoked"]`; empty or absent: all.
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// A webhook endpoint (never its signing secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub description: String,
    /// Event types it receives; empty: all.
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<keyward_core::model::WebhookEndpoint> for WebhookView {
    fn from(endpoint: keyward_core::model::WebhookEndpoint) -> Self {
        Self {
            id: endpoint.id,
            url: endpoint.url,
            description: endpoint.description,
            event_types: endpoint.event_types,
            created_at: endpoint.created_at,
            created_by: endpoint.created_by,
        }
    }
}

/// `POST /v1/webhooks` → 201: the endpoint and its signing secret, shown only here.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhookView {
    /// `whsec_…`: verify each delivery's `Keyward-Signature` with it (see docs/webhooks.md).
    #[schema(value_type = String)]
    pub secret: ShownOnce,
    #[serde(flatten)]
    pub endpoint: WebhookView,
}

/// `POST /v1/webhooks/{id}/rotate-secret` (the body may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecret {
    /// How long the replaced secret keeps signing alongside the new one:
    /// seconds or a duration such as `"1h"`; 0 ends it at once, at most 7
    /// days. Default: 1 day.
    #[serde(default, deserialize_with = "seconds_or_duration")]
    #[schema(value_type = Option<String>, example = "1d")]
    pub overlap: Option<i64>,
}

/// A replaced signing secret: the new one, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedWebhookSecret {
    /// The new `whsec_…`.
    #[schema(value_type = String)]
    pub secret: ShownOnce,
    /// Until then deliveries carry a second `v1=` signature under the old secret.
    pub previous_secret_signs_until: DateTime<Utc>,
    #[serde(flatten)]
    pub endpoint: WebhookView,
}

/// The endpoints of the organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookView>,
}

/// One event on its way to one endpoint, with every attempt.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id (the `Keyward-Event-Id` header; the audit event's id).
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptView>,
}

/// One try at a delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub attempt: u32,
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// How long the attempt took; null when the destination was refused.
    pub duration_ms: Option<u64>,
    /// The destination rule that refused the attempt (`loopback`,
    /// `private`, `link_local`, …); no request was made, and neither a
    /// status nor a duration is recorded.
    pub refused_by: Option<String>,
}

impl From<keyward_core::model::WebhookDelivery> for DeliveryView {
    fn from(delivery: keyward_core::model::WebhookDelivery) -> Self {
        Self {
            event_id: delivery.event_id,
            event_type: delivery.event_type,
            status: delivery.status.as_str().to_owned(),
            created_at: delivery.created_at,
            next_attempt_at: delivery.next_attempt_at,
            delivered_at: delivery.delivered_at,
            attempts: delivery
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                    refused_by: a.refused_by,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod shown_once_tests {
    use super::ShownOnce;

    #[test]
    fn a_shown_once_secret_serializes_plainly_and_never_debugs() {
        let secret = keyward_core::SecretToken::new("kw_live_secretsecretsecret".to_owned());
        let shown = ShownOnce::new(&secret);
        assert_eq!(serde_json::to_string(&shown).unwrap(), "\"kw_live_secretsecretsecret\"");
        assert!(!format!("{shown:?}").contains("secretsecret"));
        let back: ShownOnce = serde_json::from_str("\"kw_live_secretsecretsecret\"").unwrap();
        assert_eq!(back, shown);
    }
}
