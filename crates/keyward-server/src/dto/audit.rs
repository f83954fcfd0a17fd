//! The audit log's filters, and how a stored event becomes its view
//! (keyward-api's, shared with the CLI).

pub use keyward_api::audit::*;

use super::*;

/// Filters for `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events by this actor: its id (`tok_…`, `usr_…`, `system`) or a member's email.
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

impl IntoView<AuditEventView> for AuditEvent {
    fn into_view(self) -> AuditEventView {
        let e = self;
        AuditEventView {
            id: e.id,
            occurred_at: e.occurred_at,
            actor: e.actor,
            action: e.action.as_str().to_owned(),
            target_type: e.target_type,
            target_id: e.target_id,
            request_id: e.request_id,
            source_ip: e.source_ip,
            details: e.details,
        }
    }
}
