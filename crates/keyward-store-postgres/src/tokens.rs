//! Tokens on PostgreSQL: the statements are shared
//! (`keyward_store_sql::tokens`); this file names the pool they run on, and
//! admits creations, which several instances may make for one owner at once.

use keyward_store::StoreError;
use keyward_store_sql::tokens::{Creation, Tokens};

use crate::{backend, PostgresDialect, PostgresStore};

impl PostgresStore {
    /// Creates a token in a transaction of its own; see
    /// `TokenStore::create_token`.
    pub(crate) async fn create_token_sql(&self, creation: Creation<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if creation.limit.is_some() {
            // Creations for one owner queue on a lock held to commit, so each
            // counts what the ones before it inserted. (A hash collision only
            // makes two owners wait for each other.)
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))")
                .bind(&creation.token.org_id)
                .bind(&creation.token.owner)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        Tokens::<PostgresDialect>::create_in(&mut tx, creation).await?;
        tx.commit().await.map_err(backend)
    }
}

keyward_store_sql::token_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
