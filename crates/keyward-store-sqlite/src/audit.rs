//! The audit log: the event every mutation writes in its transaction, and reading it back.

use async_trait::async_trait;
use keyward_core::model::AuditEvent;
use keyward_store::{AuditFilter, AuditStore, Page, PageRequest, StoreError};
use sqlx::{Sqlite, Transaction};

use crate::rows::AuditRow;
use crate::webhooks;
use crate::{backend, json_text, SqliteStore};

pub(crate) async fn insert_event(tx: &mut Transaction<'_, Sqlite>, event: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, org_id, occurred_at, actor, action, target_type, target_id, request_id, source_ip, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&event.id)
    .bind(&event.org_id)
    .bind(event.occurred_at.timestamp_micros())
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.target_type)
    .bind(&event.target_id)
    .bind(&event.request_id)
    .bind(&event.source_ip)
    .bind(json_text(&event.details)?)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    webhooks::enqueue(tx, event).await
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn list_audit(
        &self,
        org: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let mut query = keyward_store_sql::query::audit_list::<Sqlite>(org, filter, page);
        let rows: Vec<AuditRow> = query.build_query_as().fetch_all(&self.reader).await.map_err(backend)?;
        let items = rows.into_iter().map(AuditRow::into_event).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |e| keyward_store::Cursor::at(e.occurred_at.timestamp_micros(), &e.id)))
    }
}
