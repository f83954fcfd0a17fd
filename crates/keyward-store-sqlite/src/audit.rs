//! The audit log: the event every mutation writes in its transaction, and reading it back.

use async_trait::async_trait;
use keyward_core::model::AuditEvent;
use keyward_store::{AuditFilter, AuditStore, Page, PageRequest, StoreError};
use sqlx::{Sqlite, Transaction};

use crate::rows::AuditRow;
use crate::SqliteDialect;
use crate::{backend, SqliteStore};
use keyward_store_sql::write::Writes;

pub(crate) async fn insert_event(tx: &mut Transaction<'_, Sqlite>, event: &AuditEvent) -> Result<(), StoreError> {
    Writes::<SqliteDialect>::event(&mut **tx, event).await
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
