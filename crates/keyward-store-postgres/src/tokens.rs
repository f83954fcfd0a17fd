//! Tokens on PostgreSQL: the statements are shared
//! (`keyward_store_sql::tokens`); this file names the pool they run on, and
//! admits creations, which several instances may make for one owner at once.

use keyward_core::model::{AuditEvent, TokenRecord};
use keyward_core::TokenDigest;
use keyward_store::{ActiveTokenLimit, StoreError};
use keyward_store_sql::tokens::Tokens;

use crate::{backend, PostgresDialect, PostgresStore};

impl PostgresStore {
    /// Creates a token; see `TokenStore::create_token`.
    pub(crate) async fn create_token_sql(
        &self,
        token: &TokenRecord,
        digest: &TokenDigest,
        event: &AuditEvent,
        limit: Option<ActiveTokenLimit>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if limit.is_some() {
            // Creations for one owner queue on a lock held to commit, so each
            // counts what the ones before it inserted. (A hash collision only
            // makes two owners wait for each other.)
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))")
                .bind(&token.org_id)
                .bind(&token.owner)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        Tokens::<PostgresDialect>::create_in(&mut tx, token, digest, event, limit).await?;
        tx.commit().await.map_err(backend)
    }
}

keyward_store_sql::token_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
