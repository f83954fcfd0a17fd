//! The webhook outbox: endpoints, and the deliveries their events queue
//! (queued by the audit write itself, so an event is never lost between
//! its change and its delivery).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint};

use crate::{Page, PageRequest, StoreError};

/// A delivery handed to a dispatcher: leased to it until the lease ends,
/// after which another dispatcher may take it again (at least once).
#[derive(Clone)]
pub struct DueDelivery {
    /// The endpoint.
    pub endpoint_id: String,
    /// Its URL.
    pub url: String,
    /// Its signing secret, sealed under the master key (context: the endpoint id).
    pub sealed_secret: Vec<u8>,
    /// The event to deliver.
    pub event: AuditEvent,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The signing secret being replaced, while it still signs alongside.
    pub previous_sealed_secret: Option<Vec<u8>>,
    /// For an automatic rotation's handoff: the new token, sealed.
    pub sealed_payload: Option<Vec<u8>>,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("endpoint_id", &self.endpoint_id)
            .field("event_id", &self.event.id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// How an attempt ended, and what becomes of the delivery.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event_id: String,
    /// The attempt made (as claimed); an outcome for a delivery claimed
    /// again since is logged but does not change it.
    pub attempt: DeliveryAttempt,
    /// What the delivery becomes: `Succeeded`, `Pending` (retried at
    /// `next_attempt_at`) or `Failed` (no more attempts).
    pub status: DeliveryStatus,
    /// When to try again (with `Pending`).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Webhook endpoints and their delivery queue.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers a webhook endpoint with its sealed signing secret.
    async fn create_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Replaces an endpoint's signing secret; the one it replaces keeps
    /// signing alongside until `previous_until`. False if there is no such
    /// endpoint in `org`.
    async fn rotate_webhook_secret(
        &self,
        org: &str,
        id: &str,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// The webhook endpoints of `org`, oldest first.
    async fn list_webhooks(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// One webhook endpoint of `org`.
    async fn get_webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Removes a webhook endpoint of `org` with its deliveries; `false`
    /// when there is none.
    async fn delete_webhook(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Takes up to `limit` pending deliveries due at `now` (oldest due
    /// first) and leases them until `lease_until`, counting the attempt.
    /// Deliveries are queued by the audit write of their event (same
    /// transaction), one per endpoint whose event types include it.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Logs an attempt and moves its delivery on.
    async fn finish_attempt(&self, outcome: &AttemptOutcome) -> Result<(), StoreError>;

    /// The delivery log of an endpoint of `org`, newest first, each with its attempts.
    async fn list_deliveries(
        &self,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError>;
}
