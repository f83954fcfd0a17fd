//! Webhook endpoints and their delivery outbox on SQLite: the statements
//! are shared (`keyward_store_sql::webhooks`); this file chooses the pool
//! each one runs on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, WebhookDelivery, WebhookEndpoint};
use keyward_store::{AttemptOutcome, DueDelivery, Handoff, Page, PageRequest, StoreError, WebhookStore};
use keyward_store_sql::webhooks::Webhooks;
use sqlx::{Sqlite, Transaction};

use crate::{SqliteDialect, SqliteStore};

/// Queues an automatic rotation's one delivery, carrying the sealed new
/// secret, to the endpoint the token names; fails if that endpoint is gone
/// (the caller's transaction then rolls back, rotation included).
pub(crate) async fn queue_handoff(tx: &mut Transaction<'_, Sqlite>, handoff: &Handoff<'_>) -> Result<(), StoreError> {
    Webhooks::<SqliteDialect>::queue_handoff(tx, handoff).await
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        Webhooks::<SqliteDialect>::create(&self.writer, endpoint, sealed_secret, event).await
    }

    async fn rotate_webhook_secret(
        &self,
        org: &str,
        id: &str,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        Webhooks::<SqliteDialect>::rotate_secret(&self.writer, org, id, sealed_secret, previous_until, event).await
    }

    async fn list_webhooks(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Webhooks::<SqliteDialect>::list(&self.reader, org).await
    }

    async fn get_webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        Webhooks::<SqliteDialect>::get(&self.reader, org, id).await
    }

    async fn delete_webhook(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        Webhooks::<SqliteDialect>::delete(&self.writer, org, id, event).await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        Webhooks::<SqliteDialect>::claim(&self.writer, now, lease_until, limit).await
    }

    async fn finish_attempt(&self, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        Webhooks::<SqliteDialect>::finish(&self.writer, outcome).await
    }

    async fn list_deliveries(
        &self,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        Webhooks::<SqliteDialect>::deliveries(&self.reader, org, endpoint_id, page).await
    }
}
