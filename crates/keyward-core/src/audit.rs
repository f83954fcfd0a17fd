//! What the audit log records, typed: the action names clients filter on
//! and the details each action carries. The wire strings and the JSON
//! shapes are a stable contract (stored rows, webhook payloads, exports),
//! so both live here, next to the tests that pin them, rather than as
//! loose strings and ad-hoc JSON at every call site.

mod details;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use details::*;

/// The audit action names: stable strings clients filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditAction {
    /// The first admin token and the management keyspace were created.
    AdminBootstrapped,
    /// An admin token was minted by someone holding the store itself
    /// (`keyward admin recover`): the way back in when every admin
    /// credential is lost.
    AdminRecovered,
    /// An organization was created, with its management keyspace and first admin token.
    OrganizationCreated,
    /// A keyspace was created.
    KeyspaceCreated,
    /// An organization's token policy was replaced.
    PolicyChanged,
    /// An organization was given a new name.
    OrganizationRenamed,
    /// A keyspace's lifecycle settings (rotation period, inactivity) changed.
    KeyspaceLifecycleChanged,
    /// A keyspace's scope catalog was replaced.
    KeyspaceScopesChanged,
    /// A token was issued.
    TokenCreated,
    /// A token's name or metadata changed.
    TokenUpdated,
    /// A token was revoked.
    TokenRevoked,
    /// A token was disabled by someone (reversible).
    TokenDisabled,
    /// A token was disabled because it went unused too long.
    TokenDisabledInactive,
    /// A disabled token was enabled again.
    TokenEnabled,
    /// A token was deleted for good (its audit history stays).
    TokenDeleted,
    /// A token expires within one of the warning periods.
    TokenExpiring,
    /// A token reached its expiry.
    TokenExpired,
    /// A token will be disabled for inactivity within one of the warning periods.
    TokenInactivityWarning,
    /// A token is older than its rotation period.
    TokenRotationDue,
    /// The scheduler rotated a token whose owner opted in. Never fanned out
    /// to subscriptions: its one delivery, to the endpoint the token names,
    /// carries the new secret.
    TokenAutoRotated,
    /// A webhook endpoint was registered.
    WebhookCreated,
    /// A webhook endpoint was removed.
    WebhookDeleted,
    /// A webhook endpoint's signing secret was replaced.
    WebhookSecretRotated,
    /// Many tokens were revoked in one call (each also gets `token.revoked`).
    TokensBulkRevoked,
    /// A token was replaced by a new one (the event is on the old token).
    TokenRotated,
    /// A rotated token's grace period was extended or ended early.
    TokenGraceChanged,
    /// Security: a rotated token was presented after its grace period ended,
    /// so some client still holds the old secret.
    TokenReusedAfterRotation,
    /// Someone signed up and founded an organization (open sign-up).
    UserSignedUp,
    /// An invitation was created.
    InvitationCreated,
    /// A pending invitation was withdrawn.
    InvitationRevoked,
    /// An invitation was accepted: a member joined.
    MemberJoined,
    /// A member's role changed.
    MemberRoleChanged,
    /// A member was removed (their personal tokens are revoked with it).
    MemberRemoved,
    /// A service account was created.
    ServiceAccountCreated,
    /// A service account was removed (its tokens are revoked with it).
    ServiceAccountRemoved,
    /// A signed-in user typed their password again, opening a short window
    /// in which the session may mint management credentials.
    SessionSudoGranted,
    /// A signed-in user's password confirmation failed.
    SessionSudoFailed,
    /// Someone signed in (or a session started at sign-up, setup or an
    /// invitation's acceptance), with the address and user agent.
    SessionSignedIn,
    /// A sign-in failed: a wrong password, an unknown account, a throttled
    /// attempt. Never carries the password.
    SessionSignInFailed,
    /// Someone signed out.
    SessionSignedOut,
    /// A session was presented after it ended; it is deleted then.
    SessionExpired,
    /// A user changed their password (their other sessions were ended).
    PasswordChanged,
    /// A management call was refused for lack of scope or role (403).
    AccessDenied,
    /// A management call named an object of another organization and got
    /// 404 as if it did not exist: a probe across tenants.
    CrossTenantProbe,
    /// More security events of one kind and source than a minute's budget
    /// allows: one summary counts the ones not written one by one.
    SecurityEventsSuppressed,
    /// Many unknown tokens were presented through one verifier, from one
    /// source, within a minute (aggregated, one event per minute).
    TokenSpraying,
}

impl AuditAction {
    /// Every action, in documentation order.
    pub const ALL: [AuditAction; 46] = [
        AuditAction::AdminBootstrapped,
        AuditAction::AdminRecovered,
        AuditAction::OrganizationCreated,
        AuditAction::KeyspaceCreated,
        AuditAction::PolicyChanged,
        AuditAction::OrganizationRenamed,
        AuditAction::KeyspaceLifecycleChanged,
        AuditAction::KeyspaceScopesChanged,
        AuditAction::TokenCreated,
        AuditAction::TokenUpdated,
        AuditAction::TokenRevoked,
        AuditAction::TokenDisabled,
        AuditAction::TokenDisabledInactive,
        AuditAction::TokenEnabled,
        AuditAction::TokenDeleted,
        AuditAction::TokenExpiring,
        AuditAction::TokenExpired,
        AuditAction::TokenInactivityWarning,
        AuditAction::TokenRotationDue,
        AuditAction::TokenAutoRotated,
        AuditAction::WebhookCreated,
        AuditAction::WebhookDeleted,
        AuditAction::WebhookSecretRotated,
        AuditAction::TokensBulkRevoked,
        AuditAction::TokenRotated,
        AuditAction::TokenGraceChanged,
        AuditAction::TokenReusedAfterRotation,
        AuditAction::UserSignedUp,
        AuditAction::InvitationCreated,
        AuditAction::InvitationRevoked,
        AuditAction::MemberJoined,
        AuditAction::MemberRoleChanged,
        AuditAction::MemberRemoved,
        AuditAction::ServiceAccountCreated,
        AuditAction::ServiceAccountRemoved,
        AuditAction::SessionSudoGranted,
        AuditAction::SessionSudoFailed,
        AuditAction::SessionSignedIn,
        AuditAction::SessionSignInFailed,
        AuditAction::SessionSignedOut,
        AuditAction::SessionExpired,
        AuditAction::PasswordChanged,
        AuditAction::AccessDenied,
        AuditAction::CrossTenantProbe,
        AuditAction::SecurityEventsSuppressed,
        AuditAction::TokenSpraying,
    ];

    /// The stable wire name, e.g. `token.created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::AdminBootstrapped => "admin.bootstrapped",
            AuditAction::AdminRecovered => "admin.recovered",
            AuditAction::OrganizationCreated => "organization.created",
            AuditAction::KeyspaceCreated => "keyspace.created",
            AuditAction::PolicyChanged => "organization.policy_changed",
            AuditAction::OrganizationRenamed => "organization.renamed",
            AuditAction::KeyspaceLifecycleChanged => "keyspace.lifecycle_changed",
            AuditAction::KeyspaceScopesChanged => "keyspace.scopes_changed",
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenUpdated => "token.updated",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenDisabled => "token.disabled",
            AuditAction::TokenDisabledInactive => "token.disabled_inactive",
            AuditAction::TokenEnabled => "token.enabled",
            AuditAction::TokenDeleted => "token.deleted",
            AuditAction::TokenExpiring => "token.expiring",
            AuditAction::TokenExpired => "token.expired",
            AuditAction::TokenInactivityWarning => "token.inactivity_warning",
            AuditAction::TokenRotationDue => "token.rotation_due",
            AuditAction::TokenAutoRotated => "token.auto_rotated",
            AuditAction::WebhookCreated => "webhook.created",
            AuditAction::WebhookDeleted => "webhook.deleted",
            AuditAction::WebhookSecretRotated => "webhook.secret_rotated",
            AuditAction::TokensBulkRevoked => "token.bulk_revoked",
            AuditAction::TokenRotated => "token.rotated",
            AuditAction::TokenGraceChanged => "token.grace_changed",
            AuditAction::TokenReusedAfterRotation => "token.reused_after_rotation",
            AuditAction::UserSignedUp => "user.signed_up",
            AuditAction::InvitationCreated => "invitation.created",
            AuditAction::InvitationRevoked => "invitation.revoked",
            AuditAction::MemberJoined => "member.joined",
            AuditAction::MemberRoleChanged => "member.role_changed",
            AuditAction::MemberRemoved => "member.removed",
            AuditAction::ServiceAccountCreated => "service_account.created",
            AuditAction::ServiceAccountRemoved => "service_account.removed",
            AuditAction::SessionSudoGranted => "session.sudo_granted",
            AuditAction::SessionSudoFailed => "session.sudo_failed",
            AuditAction::SessionSignedIn => "session.signed_in",
            AuditAction::SessionSignInFailed => "session.sign_in_failed",
            AuditAction::SessionSignedOut => "session.signed_out",
            AuditAction::SessionExpired => "session.expired",
            AuditAction::PasswordChanged => "account.password_changed",
            AuditAction::AccessDenied => "security.access_denied",
            AuditAction::CrossTenantProbe => "security.cross_tenant_probe",
            AuditAction::SecurityEventsSuppressed => "security.events_suppressed",
            AuditAction::TokenSpraying => "security.token_spraying",
        }
    }
}

/// A name that is no audit action: stored data from elsewhere, or a typo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for AuditAction {
    type Err = UnknownAction;

    fn from_str(text: &str) -> Result<Self, UnknownAction> {
        AuditAction::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
            .ok_or_else(|| UnknownAction(text.to_owned()))
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Serialize for AuditAction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_its_wire_name() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
            assert_eq!(action.to_string(), action.as_str());
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, serde_json::json!(action.as_str()));
            assert_eq!(serde_json::from_value::<AuditAction>(json).unwrap(), action);
        }
    }

    #[test]
    fn wire_names_are_distinct_and_unknown_names_are_refused() {
        let mut names: Vec<&str> = AuditAction::ALL.iter().map(|action| action.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
        assert_eq!("token.made".parse::<AuditAction>(), Err(UnknownAction("token.made".into())));
        assert!(serde_json::from_value::<AuditAction>(serde_json::json!("TOKEN.CREATED")).is_err());
        assert_eq!(AuditAction::TokenCreated.as_str(), "token.created");
        assert_eq!(AuditAction::PolicyChanged.as_str(), "organization.policy_changed");
    }
}
