//! Webhook endpoints and their delivery outbox on PostgreSQL: the statements
//! are shared (`keyward_store_sql::webhooks`); this file names the pools
//! its calls run on.

use keyward_store::{Handoff, StoreError};
use keyward_store_sql::webhooks::Webhooks;
use sqlx::{Postgres, Transaction};

use crate::{PostgresDialect, PostgresStore};

/// Queues an automatic rotation's one delivery, carrying the sealed new
/// secret, to the endpoint the token names; fails if that endpoint is gone
/// (the caller's transaction then rolls back, rotation included).
pub(crate) async fn queue_handoff(tx: &mut Transaction<'_, Postgres>, handoff: &Handoff<'_>) -> Result<(), StoreError> {
    Webhooks::<PostgresDialect>::queue_handoff(tx, handoff).await
}

keyward_store_sql::webhook_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
