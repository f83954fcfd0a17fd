//! The audit log: the event every mutation writes in its transaction
//! (shared: `keyward_store_sql::write`), and the log read back.

use keyward_core::model::AuditEvent;
use keyward_store::StoreError;
use keyward_store_sql::write::Writes;
use sqlx::{Postgres, Transaction};

use crate::{PostgresDialect, PostgresStore};

pub(crate) async fn insert_event(tx: &mut Transaction<'_, Postgres>, event: &AuditEvent) -> Result<(), StoreError> {
    Writes::<PostgresDialect>::event(&mut **tx, event).await
}

keyward_store_sql::audit_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
