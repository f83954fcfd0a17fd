//! The audit log: the event every mutation writes in its transaction
//! (shared: `keyward_store_sql::write`), and the log read back.

use keyward_core::model::AuditEvent;
use keyward_store::StoreError;
use keyward_store_sql::write::Writes;
use sqlx::{Sqlite, Transaction};

use crate::{SqliteDialect, SqliteStore};

pub(crate) async fn insert_event(tx: &mut Transaction<'_, Sqlite>, event: &AuditEvent) -> Result<(), StoreError> {
    Writes::<SqliteDialect>::event(&mut **tx, event).await
}

keyward_store_sql::audit_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
