//! The audit log as a contract of its own: most events are written by the
//! mutation they describe (inside its transaction); these calls append the
//! rest and read the log back.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::AuditEvent;

use crate::{Page, PageRequest, StoreError};

/// Filters for listing audit events.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only events with this action.
    pub action: Option<String>,
    /// Only events about this target.
    pub target_id: Option<String>,
    /// Only events at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only events strictly before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// Appending to and reading the audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event that records no change of its own (a security
    /// observation, such as a rotated token presented after its grace).
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Audit events of `org`, newest first.
    async fn list_audit(
        &self,
        org: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError>;
}
