//! The domain records shared by every layer. Plain data: no secret is ever a
//! field here (a token's text exists only as a [`crate::SecretToken`] and
//! its digest only as a [`crate::TokenDigest`] passed beside a record).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditAction;
use crate::token::{self, Environment, TokenPrefix};

mod groups;
mod wire;

pub use groups::{Disabling, PartialGroup, Replacement, Revocation, TokenUsage};

/// A tenant. Every keyspace, token and audit event belongs to exactly one,
/// and no query reaches across two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// `org_…`
    pub id: String,
    /// Human name.
    pub name: String,
    /// The one organization created at bootstrap, whose management tokens
    /// may also administer the deployment (create other organizations).
    pub operator: bool,
    /// The rules its tokens must follow, set by its owners.
    pub token_policy: crate::policy::TokenPolicy,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Actor that created it.
    pub created_by: String,
}

/// A group of tokens for one API and one environment, e.g. "payments / live".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyspace {
    /// `ks_…`
    pub id: String,
    /// Organization it belongs to.
    pub org_id: String,
    /// Human name.
    pub name: String,
    /// Environment of every token in it.
    pub environment: Environment,
    /// Prefix of every token in it.
    pub prefix: TokenPrefix,
    /// Lifetime given to tokens created without an explicit expiry.
    pub default_ttl_seconds: Option<i64>,
    /// The scopes its tokens may carry, each with a description for the
    /// people choosing them. `None`: any customer scope.
    pub scope_catalog: Option<Vec<CatalogScope>>,
    /// The organization's one keyspace whose tokens may call Keyward's own API.
    pub management: bool,
    /// Rotation period of its tokens without their own, overriding the
    /// organization's policy.
    pub rotation_period_days: Option<u32>,
    /// Disable its tokens unused this many days, overriding the policy.
    pub disable_after_inactive_days: Option<u32>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Actor that created it.
    pub created_by: String,
}

/// One entry of a keyspace's scope catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogScope {
    /// `resource:action`, or an explicit wildcard such as `invoices:*`.
    pub scope: String,
    /// What it lets a token do, in words shown to users.
    pub description: String,
}

/// Everything about a token except its secret. Fields set together are
/// grouped (see [`Revocation`], [`Replacement`], [`Disabling`]); its serde
/// shape stays flat, one key per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "wire::FlatRecord", try_from = "wire::FlatRecord")]
pub struct TokenRecord {
    /// `tok_…`
    pub id: String,
    /// Organization it belongs to (its keyspace's).
    pub org_id: String,
    /// Keyspace it belongs to.
    pub keyspace_id: String,
    /// Whether its keyspace is the organization's management keyspace
    /// (copied at creation: a keyspace never changes kind).
    pub management: bool,
    /// Human name.
    pub name: String,
    /// Opaque principal that owns it (a user or a service account).
    pub owner: String,
    /// Granted scopes, sorted.
    pub scopes: Vec<String>,
    /// Networks it may be used from; empty means anywhere.
    pub allowed_ips: Vec<crate::ip::IpNet>,
    /// Small JSON object the owner attaches.
    pub metadata: serde_json::Value,
    /// Environment (copied from the keyspace at creation).
    pub environment: Environment,
    /// Prefix (copied from the keyspace at creation).
    pub prefix: String,
    /// Last four characters of the token, for the mask.
    pub last4: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Actor that created it: a token id, a user id, or `system`.
    pub created_by: String,
    /// The management token whose authority made it: the token that
    /// issued it, or that rotated the token it replaces (a rotation by a
    /// person or the scheduler keeps the replaced token's parent). `None`
    /// for tokens a person or Keyward itself made. Revoking a token "with
    /// descendants" follows these links.
    pub parent_token_id: Option<String>,
    /// The latest instant any token of its lineage may expire: the expiry
    /// of the token whose authority bounded it (directly, or through the
    /// tokens it replaces), kept so that rotating it later, by anyone or by
    /// the scheduler, never yields a successor that outlives that bound.
    /// `None` for tokens no expiring token bounded.
    pub expiry_ceiling: Option<DateTime<Utc>>,
    /// The `Idempotency-Key` (or form nonce) of the request that created
    /// it, unique within its organization, so a retried or resubmitted
    /// creation finds it instead of making a second token.
    pub idempotency_key: Option<String>,
    /// When it stops being valid, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When and why it was revoked, if it was.
    pub revocation: Option<Revocation>,
    /// The token this one replaced by rotation.
    pub rotated_from: Option<String>,
    /// The token that replaced this one by rotation, if one did. From then
    /// on `expires_at` is the end of the rotation's grace period.
    pub replacement: Option<Replacement>,
    /// When and why it was disabled, if it is: it answers `DISABLED` until enabled again.
    pub disabling: Option<Disabling>,
    /// When it was last enabled again after being disabled: inactivity is
    /// counted from then as well, so an enabled token is not disabled again
    /// at once for the silence that disabled it.
    pub enabled_at: Option<DateTime<Utc>>,
    /// Its own rotation period in days, overriding the organization's policy.
    pub rotation_period_days: Option<u32>,
    /// Whether the lifecycle scheduler rotates it itself when its rotation
    /// falls due, and where the replacement is delivered.
    pub auto_rotate: Option<AutoRotate>,
    /// Its verifications (flushed in batches).
    pub usage: TokenUsage,
}

/// An owner's opt-in to automatic rotation: when the token's rotation falls
/// due, the scheduler replaces it and delivers the new secret, once, to one
/// registered webhook endpoint (the only payload that ever carries a
/// secret), leaving the old token valid for a grace period so the receiver
/// can switch over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRotate {
    /// The endpoint that receives the replacement (`whk_…`).
    pub webhook_id: String,
    /// How long the old token keeps verifying after the rotation, in seconds.
    pub grace_period_seconds: u32,
}

/// Why a token was revoked. The wire names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokedReason {
    /// Someone revoked it (the default).
    UserAction,
    /// It was rotated with no grace period.
    Rotation,
    /// It broke the organization's policy.
    Policy,
    /// Its secret was exposed.
    Leaked,
    /// It was used in a way its owner did not expect.
    SuspiciousActivity,
    /// Its owner left the organization (or their service account was removed).
    MemberRemoved,
}

impl RevokedReason {
    /// Every reason, in documentation order.
    pub const ALL: [RevokedReason; 6] = [
        RevokedReason::UserAction,
        RevokedReason::Rotation,
        RevokedReason::Policy,
        RevokedReason::Leaked,
        RevokedReason::SuspiciousActivity,
        RevokedReason::MemberRemoved,
    ];

    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokedReason::UserAction => "user_action",
            RevokedReason::Rotation => "rotation",
            RevokedReason::Policy => "policy",
            RevokedReason::Leaked => "leaked",
            RevokedReason::SuspiciousActivity => "suspicious_activity",
            RevokedReason::MemberRemoved => "member_removed",
        }
    }
}

impl std::str::FromStr for RevokedReason {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        RevokedReason::ALL.into_iter().find(|reason| reason.as_str() == text).ok_or(())
    }
}

/// Why a token was disabled. The wire names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// Someone disabled it.
    UserAction,
    /// It went unused for longer than its organization allows.
    Inactivity,
}

impl DisabledReason {
    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::UserAction => "user_action",
            DisabledReason::Inactivity => "inactivity",
        }
    }
}

impl std::str::FromStr for DisabledReason {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        [DisabledReason::UserAction, DisabledReason::Inactivity]
            .into_iter()
            .find(|reason| reason.as_str() == text)
            .ok_or(())
    }
}

/// Why a token that is not revoked stopped verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryCause {
    /// It reached the expiry it was given.
    LifetimeEnded,
    /// It was rotated and the grace period for its replacement ended.
    RotationGraceEnded,
}

impl ExpiryCause {
    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryCause::LifetimeEnded => "LIFETIME_ENDED",
            ExpiryCause::RotationGraceEnded => "ROTATION_GRACE_ENDED",
        }
    }
}

/// Where a token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// Verifies.
    Active,
    /// Past its expiry.
    Expired,
    /// Disabled; verifies again once enabled (unless it expired meanwhile).
    Disabled,
    /// Revoked; final.
    Revoked,
}

impl TokenState {
    /// The lowercase name used in JSON and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Disabled => "disabled",
            TokenState::Revoked => "revoked",
        }
    }
}

impl std::str::FromStr for TokenState {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "active" => Ok(TokenState::Active),
            "expired" => Ok(TokenState::Expired),
            "disabled" => Ok(TokenState::Disabled),
            "revoked" => Ok(TokenState::Revoked),
            _ => Err(()),
        }
    }
}

impl TokenRecord {
    /// State at `now_micros`. Revocation wins over disabling, disabling over
    /// expiry; a token expires at the instant `expires_at` (valid strictly
    /// before it).
    #[inline]
    pub fn state_at(&self, now_micros: i64) -> TokenState {
        if self.is_revoked() {
            TokenState::Revoked
        } else if self.is_disabled() {
            TokenState::Disabled
        } else if self.expires_at.is_some_and(|at| now_micros >= at.timestamp_micros()) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    /// Why it expired, judged as if it has: a rotated token's grace end
    /// counts as the rotation's unless its own expiry came first.
    pub fn expiry_cause(&self) -> ExpiryCause {
        match (self.is_replaced(), self.expires_at, self.expires_at_before_rotation()) {
            (false, _, _) => ExpiryCause::LifetimeEnded,
            (true, Some(end), Some(own)) if own <= end => ExpiryCause::LifetimeEnded,
            (true, _, _) => ExpiryCause::RotationGraceEnded,
        }
    }

    /// Whether it has been rotated and still verifies at `now_micros`.
    pub fn in_rotation_grace(&self, now_micros: i64) -> bool {
        self.is_replaced() && self.state_at(now_micros) == TokenState::Active
    }

    /// The display mask, `kw_live_…AbC1`.
    pub fn masked(&self) -> String {
        token::mask(&self.prefix, self.environment, &self.last4)
    }
}

/// A registered receiver of lifecycle events. Its signing secret is not
/// here: it is shown once at registration and stored only sealed under the
/// master key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `whk_…`
    pub id: String,
    /// Organization whose events it receives.
    pub org_id: String,
    /// Where deliveries are POSTed (https, or http to loopback).
    pub url: String,
    /// What it is for, in words.
    pub description: String,
    /// The event types it receives; empty: all of them.
    pub event_types: Vec<String>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Actor that registered it.
    pub created_by: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Every attempt failed; no more are made.
    Failed,
}

impl DeliveryStatus {
    /// The lowercase name used in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        [DeliveryStatus::Pending, DeliveryStatus::Succeeded, DeliveryStatus::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or(())
    }
}

/// One event on its way to one endpoint: the delivery log's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The endpoint.
    pub endpoint_id: String,
    /// The audit event delivered (receivers deduplicate on it).
    pub event_id: String,
    /// Its type, e.g. `token.revoked`.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// When it was queued (the event's time).
    pub created_at: DateTime<Utc>,
    /// When it is tried next (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every attempt so far, first first.
    pub attempts: Vec<DeliveryAttempt>,
}

/// One try at a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub attempt: u32,
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong, if anything (never a secret).
    pub error: Option<String>,
    /// How long it took, in milliseconds; none when the destination was
    /// refused, so that refusals reveal nothing about what is there.
    pub duration_ms: Option<u64>,
    /// The rule that refused the destination (an
    /// [`crate::egress::Rule::code`]); no request was made.
    pub refused_by: Option<String>,
}

/// A person who signs in to the dashboard. Belongs to organizations
/// through [`Member`]ships; a user of no organization can sign in to nothing.
#[derive(Clone, PartialEq)]
pub struct User {
    /// `usr_…`
    pub id: String,
    /// Sign-in name, lowercased.
    pub email: String,
    /// The Argon2id hash in PHC string form (never the password).
    pub password_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A password hash is offline-crackable: keep it out of logs.
        f.debug_struct("User").field("id", &self.id).field("email", &self.email).finish_non_exhaustive()
    }
}

/// A user's place in one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Organization.
    pub org_id: String,
    /// The user (`usr_…`).
    pub user_id: String,
    /// The user's email, for display.
    pub email: String,
    /// What they may do there.
    pub role: crate::role::Role,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}

/// A single-use, expiring offer to join an organization with a role. Its
/// secret is shown once to the inviter and stored only as a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    /// `inv_…`
    pub id: String,
    /// Organization offered.
    pub org_id: String,
    /// The only address that may accept it, lowercased.
    pub email: String,
    /// Role given on acceptance.
    pub role: crate::role::Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Actor that created it.
    pub created_by: String,
    /// When it stops being acceptable.
    pub expires_at: DateTime<Utc>,
    /// When it was accepted (it is then spent).
    pub accepted_at: Option<DateTime<Utc>>,
}

/// A signed-in browser or CLI session of one user in one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `ses_…`
    pub id: String,
    /// Who signed in.
    pub user_id: String,
    /// The organization the session acts in.
    pub org_id: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// When it ends, whatever happens.
    pub expires_at: DateTime<Utc>,
    /// When its user last typed their password: at sign-in, or later to
    /// confirm a sensitive action (minting a management credential).
    pub password_confirmed_at: DateTime<Utc>,
}

/// A non-human principal owned by an organization: tokens it owns outlive
/// any member's departure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccount {
    /// `sa_…`
    pub id: String,
    /// Organization that owns it.
    pub org_id: String,
    /// Human name, e.g. "billing-prod deploys".
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Actor that created it.
    pub created_by: String,
}

/// One entry of the audit log: who did what to which thing, when and from
/// where. `details` is stored as free-form JSON so richer events can grow
/// without a schema change; it is written from a typed
/// [`crate::audit::AuditEntry`], which fixes each action's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// `evt_…`
    pub id: String,
    /// Organization whose log it is in.
    pub org_id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Token id of the caller, or `system` for bootstrap.
    pub actor: String,
    /// What happened, e.g. `token.created`.
    pub action: AuditAction,
    /// `token` or `keyspace`.
    pub target_type: String,
    /// Id of the thing acted on.
    pub target_id: String,
    /// Request id of the HTTP call, if any.
    pub request_id: Option<String>,
    /// Client address of the HTTP call, if any.
    pub source_ip: Option<String>,
    /// Action-specific facts (never a secret or a digest).
    pub details: serde_json::Value,
}

/// The actor recorded for changes no token made (bootstrap).
pub const SYSTEM_ACTOR: &str = "system";

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::clock::micros_to_datetime;

    /// A plain token record for unit tests.
    pub(crate) fn record(expires_at: Option<i64>, revoked_at: Option<i64>) -> TokenRecord {
        TokenRecord {
            id: "tok_x".into(),
            org_id: "org_x".into(),
            keyspace_id: "ks_x".into(),
            management: false,
            name: "n".into(),
            owner: "o".into(),
            scopes: vec![],
            allowed_ips: vec![],
            metadata: serde_json::json!({}),
            environment: Environment::Test,
            prefix: "kw".into(),
            last4: "abcd".into(),
            created_at: micros_to_datetime(0),
            created_by: "system".into(),
            parent_token_id: None,
            expiry_ceiling: None,
            idempotency_key: None,
            expires_at: expires_at.map(micros_to_datetime),
            revocation: revoked_at.map(|at| Revocation { at: micros_to_datetime(at), reason: None }),
            rotated_from: None,
            replacement: None,
            disabling: None,
            enabled_at: None,
            rotation_period_days: None,
            auto_rotate: None,
            usage: TokenUsage::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::record;
    use super::*;
    use crate::clock::micros_to_datetime;

    #[test]
    fn expiry_boundary_is_exclusive() {
        let token = record(Some(1_000_000), None);
        assert_eq!(token.state_at(999_999), TokenState::Active);
        assert_eq!(token.state_at(1_000_000), TokenState::Expired);
        assert_eq!(token.state_at(1_000_001), TokenState::Expired);
    }

    #[test]
    fn revocation_wins_over_expiry() {
        assert_eq!(record(Some(10), Some(5)).state_at(20), TokenState::Revoked);
        assert_eq!(record(None, Some(5)).state_at(0), TokenState::Revoked);
        assert_eq!(record(None, None).state_at(i64::MAX), TokenState::Active);
    }

    #[test]
    fn disabling_sits_between_revocation_and_expiry() {
        let mut token = record(Some(10), None);
        token.disabling = Some(Disabling { at: micros_to_datetime(1), reason: None });
        assert_eq!(token.state_at(0), TokenState::Disabled);
        assert_eq!(token.state_at(20), TokenState::Disabled, "disabled wins over expired");
        token.revocation = Some(Revocation { at: micros_to_datetime(2), reason: None });
        assert_eq!(token.state_at(0), TokenState::Revoked);
        for reason in [DisabledReason::UserAction, DisabledReason::Inactivity] {
            assert_eq!(reason.as_str().parse::<DisabledReason>(), Ok(reason));
        }
        assert_eq!("disabled".parse::<TokenState>(), Ok(TokenState::Disabled));
    }

    #[test]
    fn a_rotated_token_tells_its_grace_end_from_its_own_expiry() {
        let mut token = record(Some(1_000_000), None);
        assert_eq!(token.expiry_cause(), ExpiryCause::LifetimeEnded);
        let replacement = |expires_at_before: Option<i64>| Replacement {
            by: "tok_new".into(),
            at: micros_to_datetime(0),
            expires_at_before: expires_at_before.map(micros_to_datetime),
        };
        token.replacement = Some(replacement(None));
        assert_eq!(token.expiry_cause(), ExpiryCause::RotationGraceEnded);
        assert!(token.in_rotation_grace(999_999));
        assert!(!token.in_rotation_grace(1_000_000));
        token.replacement = Some(replacement(Some(5_000_000)));
        assert_eq!(token.expiry_cause(), ExpiryCause::RotationGraceEnded);
        token.replacement = Some(replacement(Some(1_000_000)));
        assert_eq!(token.expiry_cause(), ExpiryCause::LifetimeEnded, "its own expiry came first");
    }

    #[test]
    fn revoked_reasons_round_trip_their_wire_names() {
        for reason in RevokedReason::ALL {
            assert_eq!(reason.as_str().parse::<RevokedReason>(), Ok(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), serde_json::json!(reason.as_str()));
        }
        assert!("deleted".parse::<RevokedReason>().is_err());
    }

    #[test]
    fn mask_uses_prefix_environment_and_last4() {
        assert_eq!(record(None, None).masked(), "kw_test_…abcd");
    }
}
