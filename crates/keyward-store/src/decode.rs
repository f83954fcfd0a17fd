//! Helpers backends share to turn stored columns back into domain values,
//! so that a column means the same thing whichever database holds it.

use crate::StoreError;
use chrono::{DateTime, Utc};
use keyward_core::clock::micros_to_datetime;
use keyward_core::{Environment, TokenDigest, TokenPrefix};

/// `(token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at)`
/// as stored, `''` standing for "not known".
pub type ClientRow = (String, String, String, i64, i64, i64);

/// `(token_id, at, outcome, client_ip, user_agent)` as stored, `''`
/// standing for "not known".
pub type SampleRow = (String, i64, String, String, String);

/// A stored verification sample.
pub fn verification_sample((token_id, at, outcome, client_ip, user_agent): SampleRow) -> crate::VerificationSample {
    crate::VerificationSample {
        token_id,
        at: time(at),
        outcome,
        client_ip: (!client_ip.is_empty()).then_some(client_ip),
        user_agent: (!user_agent.is_empty()).then_some(user_agent),
    }
}

/// A stored day of usage.
pub fn daily_usage((day, uses): (i64, i64)) -> crate::DailyUsage {
    crate::DailyUsage { day, uses: u64::try_from(uses).unwrap_or_default() }
}

/// A stored client sighting.
pub fn client_sighting(
    (token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at): ClientRow,
) -> crate::ClientSighting {
    crate::ClientSighting {
        token_id,
        client_ip: (!client_ip.is_empty()).then_some(client_ip),
        user_agent: (!user_agent.is_empty()).then_some(user_agent),
        uses: u64::try_from(uses).unwrap_or_default(),
        first_seen_at: time(first_seen_at),
        last_seen_at: time(last_seen_at),
    }
}

/// A stored revocation reason.
pub fn revoked_reason(text: Option<&str>) -> Result<Option<keyward_core::model::RevokedReason>, StoreError> {
    text.map(|text| text.parse().map_err(|_| StoreError::Corrupt(format!("unknown revocation reason {text:?}"))))
        .transpose()
}

/// Columns of a webhook endpoint, in the order [`webhook_endpoint`] takes them.
pub const ENDPOINT_COLUMNS: &str = "id, org_id, url, description, event_types, created_at, created_by";

/// A stored webhook endpoint, its event types already parsed as JSON.
pub fn webhook_endpoint(
    (id, org_id, url, description, event_types, created_at, created_by): (
        String,
        String,
        String,
        String,
        serde_json::Value,
        i64,
        String,
    ),
) -> Result<keyward_core::model::WebhookEndpoint, StoreError> {
    Ok(keyward_core::model::WebhookEndpoint {
        event_types: string_list(event_types)?,
        id,
        org_id,
        url,
        description,
        created_at: time(created_at),
        created_by,
    })
}

/// `(endpoint_id, event_id, event_type, status, created_at,
/// next_attempt_at, delivered_at)` as stored.
pub type DeliveryRow = (String, String, String, String, i64, Option<i64>, Option<i64>);

/// A stored delivery, without its attempts.
pub fn delivery(
    (endpoint_id, event_id, event_type, status, created_at, next_attempt_at, delivered_at): DeliveryRow,
) -> Result<keyward_core::model::WebhookDelivery, StoreError> {
    Ok(keyward_core::model::WebhookDelivery {
        status: status.parse().map_err(|()| StoreError::Corrupt(format!("unknown delivery status {status:?}")))?,
        endpoint_id,
        event_id,
        event_type,
        created_at: time(created_at),
        next_attempt_at: optional_time(next_attempt_at),
        delivered_at: optional_time(delivered_at),
        attempts: Vec::new(),
    })
}

/// `(attempt, attempted_at, status_code, error, duration_ms,
/// refused_by)` as stored.
pub type AttemptRow = (i32, i64, Option<i32>, Option<String>, Option<i64>, Option<String>);

/// Columns of a delivery attempt, in the order [`attempt`] takes them.
pub const ATTEMPT_COLUMNS: &str = "attempt, attempted_at, status_code, error, duration_ms, refused_by";

/// A stored delivery attempt.
pub fn attempt(
    (attempt, attempted_at, status_code, error, duration_ms, refused_by): AttemptRow,
) -> keyward_core::model::DeliveryAttempt {
    keyward_core::model::DeliveryAttempt {
        attempt: u32::try_from(attempt).unwrap_or_default(),
        attempted_at: time(attempted_at),
        status_code: status_code.and_then(|code| u16::try_from(code).ok()),
        error,
        duration_ms: duration_ms.map(|ms| u64::try_from(ms).unwrap_or_default()),
        refused_by,
    }
}

/// A token's automatic rotation, from its two columns (the endpoint is
/// set to NULL when it is deleted, which turns the opt-in off).
pub fn auto_rotate(webhook_id: Option<String>, grace_seconds: Option<i64>) -> Option<keyward_core::model::AutoRotate> {
    webhook_id.map(|webhook_id| keyward_core::model::AutoRotate {
        webhook_id,
        grace_period_seconds: grace_seconds.and_then(|seconds| u32::try_from(seconds).ok()).unwrap_or(0),
    })
}

/// A stored reason for disabling.
pub fn disabled_reason(text: Option<&str>) -> Result<Option<keyward_core::model::DisabledReason>, StoreError> {
    text.map(|text| text.parse().map_err(|_| StoreError::Corrupt(format!("unknown disabling reason {text:?}"))))
        .transpose()
}

/// A stored audit action name. One this build does not know (written by a
/// newer version, or edited by hand) is corrupt data to this reader, never
/// a panic.
pub fn audit_action(text: &str) -> Result<keyward_core::audit::AuditAction, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("unknown audit action {text:?}")))
}

/// A stored role name.
pub fn role(text: &str) -> Result<keyward_core::role::Role, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("unknown role {text:?}")))
}

/// `(id, email, password_hash, created_at)` as stored.
pub type UserRow = (String, String, String, i64);
/// `(org_id, user_id, email, role, joined_at)` as stored.
pub type MemberRow = (String, String, String, String, i64);
/// `(id, org_id, email, role, created_at, created_by, expires_at, accepted_at)` as stored.
pub type InvitationRow = (String, String, String, String, i64, String, i64, Option<i64>);
/// `(id, user_id, org_id, created_at, expires_at, password_confirmed_at)` as stored.
pub type SessionRow = (String, String, String, i64, i64, i64);
/// `(id, org_id, name, created_at, created_by)` as stored.
pub type ServiceAccountRow = (String, String, String, i64, String);

/// Column lists in the order of the row tuples above.
pub const USER_COLUMNS: &str = "id, email, password_hash, created_at";
/// Members are memberships joined with users (`m` and `u`).
pub const MEMBER_COLUMNS: &str = "m.org_id, m.user_id, u.email, m.role, m.joined_at";
/// Invitation columns.
pub const INVITATION_COLUMNS: &str = "id, org_id, email, role, created_at, created_by, expires_at, accepted_at";
/// Session columns.
pub const SESSION_COLUMNS: &str =
    "id, user_id, org_id, created_at, expires_at, COALESCE(password_confirmed_at, created_at)";
/// Service account columns.
pub const SERVICE_ACCOUNT_COLUMNS: &str = "id, org_id, name, created_at, created_by";

/// A stored user.
pub fn user((id, email, password_hash, created_at): UserRow) -> keyward_core::model::User {
    keyward_core::model::User { id, email, password_hash, created_at: time(created_at) }
}

/// A stored membership.
pub fn member(
    (org_id, user_id, email, role_name, joined_at): MemberRow,
) -> Result<keyward_core::model::Member, StoreError> {
    Ok(keyward_core::model::Member { org_id, user_id, email, role: role(&role_name)?, joined_at: time(joined_at) })
}

/// A stored invitation.
pub fn invitation(row: InvitationRow) -> Result<keyward_core::model::Invitation, StoreError> {
    let (id, org_id, email, role_name, created_at, created_by, expires_at, accepted_at) = row;
    Ok(keyward_core::model::Invitation {
        id,
        org_id,
        email,
        role: role(&role_name)?,
        created_at: time(created_at),
        created_by,
        expires_at: time(expires_at),
        accepted_at: optional_time(accepted_at),
    })
}

/// A stored session.
pub fn session(
    (id, user_id, org_id, created_at, expires_at, password_confirmed_at): SessionRow,
) -> keyward_core::model::Session {
    keyward_core::model::Session {
        id,
        user_id,
        org_id,
        created_at: time(created_at),
        expires_at: time(expires_at),
        password_confirmed_at: time(password_confirmed_at),
    }
}

/// A stored service account.
pub fn service_account(
    (id, org_id, name, created_at, created_by): ServiceAccountRow,
) -> keyward_core::model::ServiceAccount {
    keyward_core::model::ServiceAccount { id, org_id, name, created_at: time(created_at), created_by }
}

/// A stored environment name.
pub fn environment(text: &str) -> Result<Environment, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("unknown environment {text:?}")))
}

/// A stored prefix.
pub fn prefix(text: &str) -> Result<TokenPrefix, StoreError> {
    TokenPrefix::new(text).map_err(|_| StoreError::Corrupt(format!("invalid prefix {text:?}")))
}

/// A stored digest.
pub fn digest(bytes: &[u8]) -> Result<TokenDigest, StoreError> {
    TokenDigest::from_slice(bytes).ok_or_else(|| StoreError::Corrupt("digest is not 32 bytes".into()))
}

/// Stored microseconds.
pub fn time(micros: i64) -> DateTime<Utc> {
    micros_to_datetime(micros)
}

/// Optional stored microseconds.
pub fn optional_time(micros: Option<i64>) -> Option<DateTime<Utc>> {
    micros.map(micros_to_datetime)
}

/// A stored JSON array of strings.
pub fn string_list(value: serde_json::Value) -> Result<Vec<String>, StoreError> {
    serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("scope list: {error}")))
}

/// A token policy stored as a JSON object.
pub fn policy(value: serde_json::Value) -> Result<keyward_core::policy::TokenPolicy, StoreError> {
    serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("token policy: {error}")))
}

/// A scope catalog stored as a JSON array of `{"scope", "description"}`.
pub fn catalog(value: serde_json::Value) -> Result<Vec<keyward_core::model::CatalogScope>, StoreError> {
    serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("scope catalog: {error}")))
}

/// An IP allowlist stored as a JSON array of CIDR strings.
pub fn ip_list(value: serde_json::Value) -> Result<Vec<keyward_core::ip::IpNet>, StoreError> {
    serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("IP allowlist: {error}")))
}

#[cfg(test)]
mod tests {
    use keyward_core::audit::AuditAction;

    use super::*;

    #[test]
    fn an_audit_action_this_build_does_not_know_is_corrupt_data_not_a_panic() {
        assert_eq!(audit_action("token.created").unwrap(), AuditAction::TokenCreated);
        assert!(matches!(audit_action("token.made"), Err(StoreError::Corrupt(_))));
        assert!(matches!(audit_action(""), Err(StoreError::Corrupt(_))));
    }
}
