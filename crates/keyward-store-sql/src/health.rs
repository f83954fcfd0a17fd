//! The store's own health checks, the same statements on every SQL
//! backend: that it answers, and that it takes a write (a full disk or a
//! read-only database answers reads all the same).

use keyward_store::StoreError;
use sqlx::{Database, Executor, IntoArguments, Pool};

use crate::backend;

/// Whether the database answers a query on `pool`.
pub async fn ping<DB: Database>(pool: &Pool<DB>) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    sqlx::query("SELECT 1").execute(pool).await.map_err(backend)?;
    Ok(())
}

/// Whether a write on `writer` commits: bumps the probe row.
pub async fn probe_write<DB: Database>(writer: &Pool<DB>) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let mut tx = writer.begin().await.map_err(backend)?;
    sqlx::query(
        "INSERT INTO store_probe (id, probes) VALUES (1, 1)
         ON CONFLICT (id) DO UPDATE SET probes = store_probe.probes + 1",
    )
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    tx.commit().await.map_err(backend)
}
