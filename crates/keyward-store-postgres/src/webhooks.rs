//! Webhook endpoints, and the outbox of deliveries their events fill.

use crate::PostgresStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, DeliveryAttempt, WebhookDelivery, WebhookEndpoint};
use keyward_store::decode::{self, DeliveryRow, ENDPOINT_COLUMNS};
use keyward_store::WebhookStore;
use keyward_store::{AttemptOutcome, DueDelivery, Handoff, Page, PageRequest, StoreError};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};

use crate::rows::{AuditRow, AUDIT_COLUMNS};
use crate::{backend, insert_event};

type EndpointRow = (String, String, String, String, serde_json::Value, i64, String);

fn endpoint(row: EndpointRow) -> Result<WebhookEndpoint, StoreError> {
    decode::webhook_endpoint(row)
}

/// Queues an automatic rotation's one delivery, carrying the sealed new
/// secret, to the endpoint the token names; fails if that endpoint is gone
/// (the caller's transaction then rolls back, rotation included).
pub(crate) async fn queue_handoff(tx: &mut Transaction<'_, Postgres>, handoff: &Handoff<'_>) -> Result<(), StoreError> {
    let event = handoff.event;
    let queued = sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, org_id, event_type, status, attempts, created_at,
                                         next_attempt_at, sealed_payload)
         SELECT id, $1, org_id, $2, 'pending', 0, $3, $3, $4 FROM webhook_endpoints
         WHERE id = $5 AND org_id = $6",
    )
    .bind(&event.id)
    .bind(&event.action)
    .bind(event.occurred_at.timestamp_micros())
    .bind(handoff.sealed_token)
    .bind(handoff.endpoint_id)
    .bind(&event.org_id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?
    .rows_affected();
    if queued == 0 {
        return Err(StoreError::MissingReference(format!("webhook endpoint {}", handoff.endpoint_id)));
    }
    Ok(())
}

pub(crate) async fn rotate_secret(
    writer: &PgPool,
    org: &str,
    id: &str,
    sealed_secret: &[u8],
    previous_until: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    let mut tx = writer.begin().await.map_err(backend)?;
    let rotated = sqlx::query(
        "UPDATE webhook_endpoints SET previous_sealed_secret = sealed_secret, previous_secret_until = $1,
                                      sealed_secret = $2
         WHERE org_id = $3 AND id = $4",
    )
    .bind(previous_until.timestamp_micros())
    .bind(sealed_secret)
    .bind(org)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected()
        == 1;
    if rotated {
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
    }
    Ok(rotated)
}

pub(crate) async fn create(
    writer: &PgPool,
    endpoint: &WebhookEndpoint,
    sealed_secret: &[u8],
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let mut tx = writer.begin().await.map_err(backend)?;
    let event_types = serde_json::to_value(&endpoint.event_types)
        .map_err(|error| StoreError::Corrupt(format!("event types: {error}")))?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, org_id, url, description, event_types, sealed_secret, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&endpoint.id)
    .bind(&endpoint.org_id)
    .bind(&endpoint.url)
    .bind(&endpoint.description)
    .bind(event_types)
    .bind(sealed_secret)
    .bind(endpoint.created_at.timestamp_micros())
    .bind(&endpoint.created_by)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)
}

pub(crate) async fn list(reader: &PgPool, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id"
    ))
    .bind(org)
    .fetch_all(reader)
    .await
    .map_err(backend)?;
    rows.into_iter().map(endpoint).collect()
}

pub(crate) async fn get(reader: &PgPool, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
    let row: Option<EndpointRow> =
        sqlx::query_as(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2"))
            .bind(org)
            .bind(id)
            .fetch_optional(reader)
            .await
            .map_err(backend)?;
    row.map(endpoint).transpose()
}

pub(crate) async fn delete(writer: &PgPool, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
    let mut tx = writer.begin().await.map_err(backend)?;
    let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected()
        == 1;
    if deleted {
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
    }
    Ok(deleted)
}

pub(crate) async fn claim(
    writer: &PgPool,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    let mut tx = writer.begin().await.map_err(backend)?;
    // SKIP LOCKED: instances claiming at once take different deliveries
    // instead of waiting for each other.
    let claimed: Vec<(String, String, i32, Option<Vec<u8>>)> = sqlx::query_as(
        "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1
         WHERE (endpoint_id, event_id) IN (
             SELECT endpoint_id, event_id FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $2
             ORDER BY next_attempt_at, event_id LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING endpoint_id, event_id, attempts, sealed_payload",
    )
    .bind(lease_until.timestamp_micros())
    .bind(now.timestamp_micros())
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let mut due = Vec::with_capacity(claimed.len());
    for (endpoint_id, event_id, attempts, sealed_payload) in claimed {
        let (url, sealed_secret, previous_sealed_secret): (String, Vec<u8>, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT url, sealed_secret, CASE WHEN previous_secret_until > $2 THEN previous_sealed_secret END
             FROM webhook_endpoints WHERE id = $1",
        )
        .bind(&endpoint_id)
        .bind(now.timestamp_micros())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let event: AuditRow = sqlx::query_as(&format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE id = $1"))
            .bind(&event_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
        due.push(DueDelivery {
            endpoint_id,
            url,
            sealed_secret,
            event: event.into_event()?,
            attempt,
            previous_sealed_secret,
            sealed_payload,
        });
    }
    tx.commit().await.map_err(backend)?;
    Ok(due)
}

pub(crate) async fn finish(writer: &PgPool, outcome: &AttemptOutcome) -> Result<(), StoreError> {
    let mut tx = writer.begin().await.map_err(backend)?;
    let attempt = &outcome.attempt;
    sqlx::query(
        "INSERT INTO webhook_attempts
             (endpoint_id, event_id, attempt, attempted_at, status_code, error, duration_ms, refused_by)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1)
         ON CONFLICT DO NOTHING",
    )
    .bind(&outcome.endpoint_id)
    .bind(&outcome.event_id)
    .bind(i32::try_from(attempt.attempt).unwrap_or(i32::MAX))
    .bind(attempt.attempted_at.timestamp_micros())
    .bind(attempt.status_code.map(i32::from))
    .bind(&attempt.error)
    .bind(attempt.duration_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)))
    .bind(&attempt.refused_by)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let delivered_at = (outcome.status == keyward_core::model::DeliveryStatus::Succeeded)
        .then(|| attempt.attempted_at.timestamp_micros());
    sqlx::query(
        // A handoff's sealed secret is erased once the delivery ends, either way.
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, delivered_at = $3,
                                       sealed_payload = CASE WHEN $1 = 'pending' THEN sealed_payload END
         WHERE endpoint_id = $4 AND event_id = $5 AND attempts = $6 AND status = 'pending'",
    )
    .bind(outcome.status.as_str())
    .bind(outcome.next_attempt_at.map(|at| at.timestamp_micros()))
    .bind(delivered_at)
    .bind(&outcome.endpoint_id)
    .bind(&outcome.event_id)
    .bind(i32::try_from(attempt.attempt).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    tx.commit().await.map_err(backend)
}

pub(crate) async fn deliveries(
    reader: &PgPool,
    org: &str,
    endpoint_id: &str,
    page: &PageRequest,
) -> Result<Page<WebhookDelivery>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT endpoint_id, event_id, event_type, status, created_at, next_attempt_at, delivered_at
         FROM webhook_deliveries WHERE org_id = ",
    );
    query.push_bind(org.to_owned()).push(" AND endpoint_id = ").push_bind(endpoint_id.to_owned());
    if let Some(cursor) = &page.after {
        query
            .push(" AND (created_at < ")
            .push_bind(cursor.micros)
            .push(" OR (created_at = ")
            .push_bind(cursor.micros)
            .push(" AND event_id < ")
            .push_bind(cursor.id.clone())
            .push("))");
    }
    query.push(" ORDER BY created_at DESC, event_id DESC LIMIT ").push_bind(page.fetch_limit());
    let rows: Vec<DeliveryRow> = query.build_query_as().fetch_all(reader).await.map_err(backend)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let mut delivery = decode::delivery(row)?;
        delivery.attempts = attempts(reader, endpoint_id, &delivery.event_id).await?;
        items.push(delivery);
    }
    Ok(Page::from_rows(items, page, |d| keyward_store::Cursor::at(d.created_at.timestamp_micros(), &d.event_id)))
}

async fn attempts(reader: &PgPool, endpoint_id: &str, event_id: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
    let rows: Vec<decode::AttemptRow> = sqlx::query_as(
        "SELECT attempt, attempted_at, status_code, error, duration_ms, refused_by FROM webhook_attempts
         WHERE endpoint_id = $1 AND event_id = $2 ORDER BY attempt",
    )
    .bind(endpoint_id)
    .bind(event_id)
    .fetch_all(reader)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(decode::attempt).collect())
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn create_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        create(&self.pool, endpoint, sealed_secret, event).await
    }

    async fn rotate_webhook_secret(
        &self,
        org: &str,
        id: &str,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        rotate_secret(&self.pool, org, id, sealed_secret, previous_until, event).await
    }

    async fn list_webhooks(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        list(&self.pool, org).await
    }

    async fn get_webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        get(&self.pool, org, id).await
    }

    async fn delete_webhook(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        delete(&self.pool, org, id, event).await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        claim(&self.pool, now, lease_until, limit).await
    }

    async fn finish_attempt(&self, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        finish(&self.pool, outcome).await
    }

    async fn list_deliveries(
        &self,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        deliveries(&self.pool, org, endpoint_id, page).await
    }
}
