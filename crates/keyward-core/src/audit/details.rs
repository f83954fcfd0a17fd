//! The details of each audit action, typed. Clients, webhook receivers and
//! exports read these JSON objects, so their keys, `null`s and nesting are
//! a contract: a variant's fields serialize to exactly the object the
//! action has always carried, and the tests below pin each shape.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::AuditAction;
use crate::ip::IpNet;
use crate::model::{AutoRotate, CatalogScope, DisabledReason, RevokedReason, TokenState};
use crate::policy::TokenPolicy;
use crate::role::Role;
use crate::token::{Environment, TokenPrefix};

/// A key whose presence is the fact it records (`"setup": true`): it
/// serializes as `true` and cannot say `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct True;

impl Serialize for True {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

/// Why a token was revoked because its owner left: a member removed, or a
/// service account removed (which is no [`RevokedReason`] of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerGone {
    MemberRemoved,
    ServiceAccountRemoved,
}

/// Why a password confirmation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SudoFailure {
    WrongPassword,
}

/// A keyspace's lifecycle settings, before or after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LifecycleDays {
    pub rotation_period_days: Option<u32>,
    pub disable_after_inactive_days: Option<u32>,
}

/// The scopes of a token update that replaced them.
#[derive(Debug, Clone, Serialize)]
pub struct ScopesChanged<'a> {
    pub scopes_before: &'a [String],
    pub scopes_after: &'a [String],
    /// Whether the new scopes grant anything the old ones did not.
    pub broadened: bool,
}

/// What identifies a token in the scheduler's notices, which outlive any
/// view of the token the reader might have at hand.
#[derive(Debug, Clone, Serialize)]
pub struct NoticedToken<'a> {
    pub name: &'a str,
    pub owner: &'a str,
    pub keyspace_id: &'a str,
    pub masked: String,
}

/// A refused management call, as `security.access_denied` and
/// `security.cross_tenant_probe` describe it.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedCall<'a> {
    pub method: &'a str,
    pub route: &'a str,
    /// The problem code answered.
    pub code: &'a str,
    pub caller_organization_id: &'a str,
}

/// One audit event's action and its details. Several variants may share an
/// action where the action has always carried more than one shape (a
/// revocation alone, with descendants, in bulk, …).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AuditEntry<'a> {
    AdminBootstrapped {
        keyspace_id: &'a str,
        organization_id: &'a str,
    },
    AdminRecovered {
        keyspace_id: &'a str,
        name: &'a str,
        scopes: &'a [String],
    },
    OrganizationCreated {
        name: &'a str,
        admin_token_id: &'a str,
        admin_expires_at: Option<DateTime<Utc>>,
        admin_allowed_ips: &'a [IpNet],
        inherited_from_parent: &'a [&'a str],
    },
    KeyspaceCreated {
        name: &'a str,
        environment: Environment,
        prefix: &'a TokenPrefix,
        rotation_period_days: Option<u32>,
        disable_after_inactive_days: Option<u32>,
    },
    PolicyChanged {
        policy_before: &'a TokenPolicy,
        policy_after: &'a TokenPolicy,
    },
    OrganizationRenamed {
        name_before: &'a str,
        name_after: &'a str,
        /// Named by the operator's setup rather than by a member.
        #[serde(skip_serializing_if = "Option::is_none")]
        setup: Option<True>,
    },
    KeyspaceLifecycleChanged {
        before: LifecycleDays,
        after: LifecycleDays,
    },
    KeyspaceScopesChanged {
        scopes_before: Option<&'a [CatalogScope]>,
        scopes_after: Option<&'a [CatalogScope]>,
    },
    TokenCreated {
        keyspace_id: &'a str,
        name: &'a str,
        owner: &'a str,
        scopes: &'a [String],
        allowed_ips: &'a [IpNet],
        expires_at: Option<DateTime<Utc>>,
        rotation_period_days: Option<u32>,
        auto_rotate: Option<&'a AutoRotate>,
        parent_token_id: Option<&'a str>,
        inherited_from_parent: &'a [&'a str],
    },
    /// `token.created` for the successor a rotation made.
    TokenCreatedByRotation {
        keyspace_id: &'a str,
        name: &'a str,
        owner: &'a str,
        scopes: &'a [String],
        allowed_ips: &'a [IpNet],
        expires_at: Option<DateTime<Utc>>,
        rotated_from: &'a str,
        parent_token_id: Option<&'a str>,
        inherited_from_parent: &'a [&'a str],
    },
    /// Only what changed is present: an absent key is a field left alone,
    /// while `null` clears a rotation period or automatic rotation.
    TokenUpdated {
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        metadata_replaced: Option<True>,
        #[serde(skip_serializing_if = "Option::is_none")]
        allowed_ips: Option<&'a [IpNet]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        rotation_period_days: Option<Option<u32>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        auto_rotate: Option<Option<&'a AutoRotate>>,
        #[serde(flatten)]
        scopes: Option<ScopesChanged<'a>>,
    },
    TokenRevoked {
        reason: RevokedReason,
    },
    /// `token.revoked` for the root of a revocation with descendants.
    TokenRevokedWithDescendants {
        reason: RevokedReason,
        with_descendants: True,
        customer_tokens: bool,
    },
    /// `token.revoked` for a descendant revoked with `revoked_with`.
    TokenRevokedWith {
        reason: RevokedReason,
        revoked_with: &'a str,
        parent_token_id: Option<&'a str>,
    },
    /// `token.revoked` for one token of a bulk revocation.
    TokenRevokedInBulk {
        reason: RevokedReason,
        bulk_event_id: &'a str,
    },
    /// `token.revoked` because `owner` left the organization.
    TokenRevokedWithOwner {
        reason: OwnerGone,
        owner: &'a str,
    },
    TokenDisabled {
        reason: DisabledReason,
    },
    TokenEnabled {},
    TokenDeleted {
        name: &'a str,
        masked: String,
        keyspace_id: &'a str,
        owner: &'a str,
        state: TokenState,
        created_at: DateTime<Utc>,
    },
    TokenExpiring {
        expires_at: DateTime<Utc>,
        days_before: u32,
        #[serde(flatten)]
        token: NoticedToken<'a>,
    },
    TokenExpired {
        expires_at: DateTime<Utc>,
        #[serde(flatten)]
        token: NoticedToken<'a>,
    },
    TokenInactivityWarning {
        disables_at: DateTime<Utc>,
        days_before: u32,
        last_activity_at: DateTime<Utc>,
        #[serde(flatten)]
        token: NoticedToken<'a>,
    },
    /// `token.disabled_inactive`; `reason` is always `inactivity`.
    TokenDisabledInactive {
        reason: DisabledReason,
        last_activity_at: DateTime<Utc>,
        #[serde(flatten)]
        token: NoticedToken<'a>,
    },
    TokenRotationDue {
        due_at: DateTime<Utc>,
        rotation_period_days: u32,
        #[serde(flatten)]
        token: NoticedToken<'a>,
    },
    TokenAutoRotated {
        rotated_from: &'a str,
        name: &'a str,
        owner: &'a str,
        keyspace_id: &'a str,
        scopes: &'a [String],
        masked: String,
        expires_at: Option<DateTime<Utc>>,
        old_token_grace_ends_at: Option<DateTime<Utc>>,
        webhook_id: &'a str,
    },
    WebhookCreated {
        url: &'a str,
        event_types: &'a [String],
    },
    WebhookDeleted {},
    WebhookSecretRotated {
        previous_secret_signs_until: DateTime<Utc>,
    },
    TokensBulkRevoked {
        owner: Option<&'a str>,
        keyspace_id: Option<&'a str>,
        name_prefix: Option<&'a str>,
        scope: Option<&'a str>,
        ids: &'a [String],
        reason: RevokedReason,
        expected_count: Option<u64>,
    },
    TokenRotated {
        replaced_by: &'a str,
        grace_period_seconds: i64,
        grace_ends_at: Option<DateTime<Utc>>,
    },
    TokenGraceChanged {
        grace_ends_at_before: Option<DateTime<Utc>>,
        requested_grace_ends_at: DateTime<Utc>,
    },
    TokenReusedAfterRotation {
        replaced_by: Option<&'a str>,
        stopped_verifying_at: DateTime<Utc>,
        attempts: u64,
        first_attempt_at: DateTime<Utc>,
        last_attempt_at: DateTime<Utc>,
        user_agent: Option<&'a str>,
    },
    UserSignedUp {
        email: &'a str,
        organization_id: &'a str,
        organization_name: &'a str,
    },
    InvitationCreated {
        email: &'a str,
        role: Role,
        expires_at: DateTime<Utc>,
        /// Made by the operator's setup, for its first owner.
        #[serde(skip_serializing_if = "Option::is_none")]
        setup: Option<True>,
    },
    InvitationRevoked {},
    MemberJoined {
        email: &'a str,
        role: Role,
        invitation_id: &'a str,
        new_account: bool,
    },
    MemberRoleChanged {
        email: &'a str,
        role_before: Role,
        role_after: Role,
    },
    MemberRemoved {
        email: &'a str,
        role: Role,
    },
    ServiceAccountCreated {
        name: &'a str,
    },
    ServiceAccountRemoved {
        name: &'a str,
    },
    SessionSudoGranted {
        window_seconds: u64,
        until: DateTime<Utc>,
    },
    SessionSudoFailed {
        reason: SudoFailure,
    },
    SessionSignedIn {
        email: &'a str,
        session_id: &'a str,
        /// `password`, `sign_up` or `invitation`.
        method: &'a str,
        user_agent: Option<&'a str>,
        expires_at: DateTime<Utc>,
    },
    /// Never carries the password.
    SessionSignInFailed {
        email: Option<&'a str>,
        reason: &'a str,
        user_agent: Option<&'a str>,
    },
    SessionSignedOut {
        session_id: &'a str,
        user_agent: Option<&'a str>,
    },
    SessionExpired {
        session_id: &'a str,
        expired_at: DateTime<Utc>,
    },
    PasswordChanged {
        email: &'a str,
        session_id: &'a str,
        user_agent: Option<&'a str>,
        other_sessions_ended: True,
    },
    AccessDenied(RefusedCall<'a>),
    CrossTenantProbe(RefusedCall<'a>),
    SecurityEventsSuppressed {
        summary: &'a str,
        action: AuditAction,
        suppressed: u64,
        written: u32,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
    },
    TokenSpraying {
        summary: &'a str,
        unknown_tokens: u64,
        source: &'a str,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        window_seconds: u32,
        threshold: u64,
        /// `verify` or `management API`.
        presented_to: &'a str,
    },
}

impl AuditEntry<'_> {
    /// The action this entry records.
    pub fn action(&self) -> AuditAction {
        use AuditEntry as E;
        match self {
            E::AdminBootstrapped { .. } => AuditAction::AdminBootstrapped,
            E::AdminRecovered { .. } => AuditAction::AdminRecovered,
            E::OrganizationCreated { .. } => AuditAction::OrganizationCreated,
            E::KeyspaceCreated { .. } => AuditAction::KeyspaceCreated,
            E::PolicyChanged { .. } => AuditAction::PolicyChanged,
            E::OrganizationRenamed { .. } => AuditAction::OrganizationRenamed,
            E::KeyspaceLifecycleChanged { .. } => AuditAction::KeyspaceLifecycleChanged,
            E::KeyspaceScopesChanged { .. } => AuditAction::KeyspaceScopesChanged,
            E::TokenCreated { .. } | E::TokenCreatedByRotation { .. } => AuditAction::TokenCreated,
            E::TokenUpdated { .. } => AuditAction::TokenUpdated,
            E::TokenRevoked { .. }
            | E::TokenRevokedWithDescendants { .. }
            | E::TokenRevokedWith { .. }
            | E::TokenRevokedInBulk { .. }
            | E::TokenRevokedWithOwner { .. } => AuditAction::TokenRevoked,
            E::TokenDisabled { .. } => AuditAction::TokenDisabled,
            E::TokenEnabled {} => AuditAction::TokenEnabled,
            E::TokenDeleted { .. } => AuditAction::TokenDeleted,
            E::TokenExpiring { .. } => AuditAction::TokenExpiring,
            E::TokenExpired { .. } => AuditAction::TokenExpired,
            E::TokenInactivityWarning { .. } => AuditAction::TokenInactivityWarning,
            E::TokenDisabledInactive { .. } => AuditAction::TokenDisabledInactive,
            E::TokenRotationDue { .. } => AuditAction::TokenRotationDue,
            E::TokenAutoRotated { .. } => AuditAction::TokenAutoRotated,
            E::WebhookCreated { .. } => AuditAction::WebhookCreated,
            E::WebhookDeleted {} => AuditAction::WebhookDeleted,
            E::WebhookSecretRotated { .. } => AuditAction::WebhookSecretRotated,
            E::TokensBulkRevoked { .. } => AuditAction::TokensBulkRevoked,
            E::TokenRotated { .. } => AuditAction::TokenRotated,
            E::TokenGraceChanged { .. } => AuditAction::TokenGraceChanged,
            E::TokenReusedAfterRotation { .. } => AuditAction::TokenReusedAfterRotation,
            E::UserSignedUp { .. } => AuditAction::UserSignedUp,
            E::InvitationCreated { .. } => AuditAction::InvitationCreated,
            E::InvitationRevoked {} => AuditAction::InvitationRevoked,
            E::MemberJoined { .. } => AuditAction::MemberJoined,
            E::MemberRoleChanged { .. } => AuditAction::MemberRoleChanged,
            E::MemberRemoved { .. } => AuditAction::MemberRemoved,
            E::ServiceAccountCreated { .. } => AuditAction::ServiceAccountCreated,
            E::ServiceAccountRemoved { .. } => AuditAction::ServiceAccountRemoved,
            E::SessionSudoGranted { .. } => AuditAction::SessionSudoGranted,
            E::SessionSudoFailed { .. } => AuditAction::SessionSudoFailed,
            E::SessionSignedIn { .. } => AuditAction::SessionSignedIn,
            E::SessionSignInFailed { .. } => AuditAction::SessionSignInFailed,
            E::SessionSignedOut { .. } => AuditAction::SessionSignedOut,
            E::SessionExpired { .. } => AuditAction::SessionExpired,
            E::PasswordChanged { .. } => AuditAction::PasswordChanged,
            E::AccessDenied(_) => AuditAction::AccessDenied,
            E::CrossTenantProbe(_) => AuditAction::CrossTenantProbe,
            E::SecurityEventsSuppressed { .. } => AuditAction::SecurityEventsSuppressed,
            E::TokenSpraying { .. } => AuditAction::TokenSpraying,
        }
    }

    /// The details as stored: a JSON object. Fails only if a field cannot
    /// be represented as JSON, which none of these types can do.
    pub fn details(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

#[cfg(test)]
#[path = "details_tests.rs"]
mod tests;
