//! Webhook endpoints, and the outbox of deliveries their events fill,
//! written once for both SQL backends: only how deliveries are claimed
//! (PostgreSQL skips rows another instance holds) is the dialect's.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, DeliveryAttempt, WebhookDelivery, WebhookEndpoint};
use keyward_store::decode::{self, AttemptRow, DeliveryRow, ENDPOINT_COLUMNS};
use keyward_store::{AttemptOutcome, DueDelivery, Page, PageRequest, StoreError};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type};

use crate::rows::{AuditRow, StoredJson, TokenRow, AUDIT_COLUMNS};
use crate::write::{Connection, Writes};
use crate::{backend, Dialect};

/// A stored endpoint, its event types as the dialect stores JSON.
type EndpointRow<J> = (String, String, String, String, J, i64, String);

/// A claimed delivery: endpoint, event, attempts so far (as the dialect
/// stores counts), the sealed handoff payload if any.
type ClaimedRow<N> = (String, String, N, Option<Vec<u8>>);

/// The webhook operations of dialect `D`, on its pools and transactions.
pub struct Webhooks<D>(PhantomData<D>);

impl<D: Dialect> Webhooks<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> D::Json: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> D::Count: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<D::Json>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<D::Count>: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> TokenRow<D::Json, D::Count>: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'r> EndpointRow<D::Json>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ClaimedRow<D::Count>: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String, Vec<u8>, Option<Vec<u8>>): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> AuditRow<D::Json>: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'r> DeliveryRow: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'r> AttemptRow: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
{
    async fn insert_event(tx: &mut Transaction<'_, D::Db>, event: &AuditEvent) -> Result<(), StoreError> {
        Writes::<D>::event(&mut **tx, event).await
    }

    fn endpoint(row: EndpointRow<D::Json>) -> Result<WebhookEndpoint, StoreError> {
        let (id, org_id, url, description, event_types, created_at, created_by) = row;
        decode::webhook_endpoint((id, org_id, url, description, event_types.into_json()?, created_at, created_by))
    }

    pub async fn rotate_secret(
        writer: &Pool<D::Db>,
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
        .map_err(backend)
        .map(|result| D::rows_affected(&result))?
            == 1;
        if rotated {
            Self::insert_event(&mut tx, event).await?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(rotated)
    }

    pub async fn create(
        writer: &Pool<D::Db>,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let event_types = D::json(&endpoint.event_types)?;
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
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    pub async fn list(reader: &Pool<D::Db>, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows: Vec<EndpointRow<D::Json>> = sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org)
        .fetch_all(reader)
        .await
        .map_err(backend)?;
        rows.into_iter().map(Self::endpoint).collect()
    }

    pub async fn get(reader: &Pool<D::Db>, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let row: Option<EndpointRow<D::Json>> =
            sqlx::query_as(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2"))
                .bind(org)
                .bind(id)
                .fetch_optional(reader)
                .await
                .map_err(backend)?;
        row.map(Self::endpoint).transpose()
    }

    pub async fn delete(writer: &Pool<D::Db>, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?
            == 1;
        if deleted {
            Self::insert_event(&mut tx, event).await?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(deleted)
    }

    pub async fn claim(
        writer: &Pool<D::Db>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let claimed: Vec<ClaimedRow<D::Count>> = sqlx::query_as(D::CLAIM_DELIVERIES)
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
            let event: AuditRow<D::Json> =
                sqlx::query_as(&format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE id = $1"))
                    .bind(&event_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
            let attempt = u32::try_from(attempts.into()).unwrap_or(u32::MAX);
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

    pub async fn finish(writer: &Pool<D::Db>, outcome: &AttemptOutcome) -> Result<(), StoreError> {
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
        .bind(D::count(attempt.attempt))
        .bind(attempt.attempted_at.timestamp_micros())
        .bind(attempt.status_code.map(|code| D::count(u32::from(code))))
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
        .bind(D::count(attempt.attempt))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    pub async fn deliveries(
        reader: &Pool<D::Db>,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        // Two fixed statements rather than a QueryBuilder: a generic builder's
        // arguments cannot outlive it across the await.
        let rows: Vec<DeliveryRow> = match &page.after {
            Some(cursor) => {
                sqlx::query_as(
                    "SELECT endpoint_id, event_id, event_type, status, created_at, next_attempt_at, delivered_at
                 FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2
                 AND (created_at < $3 OR (created_at = $3 AND event_id < $4))
                 ORDER BY created_at DESC, event_id DESC LIMIT $5",
                )
                .bind(org)
                .bind(endpoint_id)
                .bind(cursor.micros)
                .bind(&cursor.id)
                .bind(page.fetch_limit())
                .fetch_all(reader)
                .await
            }
            None => {
                sqlx::query_as(
                    "SELECT endpoint_id, event_id, event_type, status, created_at, next_attempt_at, delivered_at
                 FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2
                 ORDER BY created_at DESC, event_id DESC LIMIT $3",
                )
                .bind(org)
                .bind(endpoint_id)
                .bind(page.fetch_limit())
                .fetch_all(reader)
                .await
            }
        }
        .map_err(backend)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let mut delivery = decode::delivery(row)?;
            delivery.attempts = Self::attempts(reader, endpoint_id, &delivery.event_id).await?;
            items.push(delivery);
        }
        Ok(Page::from_rows(items, page, |d| keyward_store::Cursor::at(d.created_at.timestamp_micros(), &d.event_id)))
    }

    async fn attempts(
        reader: &Pool<D::Db>,
        endpoint_id: &str,
        event_id: &str,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
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
}
