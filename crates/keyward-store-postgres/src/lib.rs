//! PostgreSQL backend: the production store.
//!
//! Several Keyward instances may share one database. Every mutation and its
//! audit event commit in one transaction; uniqueness (digests, the single
//! management keyspace) is enforced by the schema, so concurrent instances
//! cannot race past it.

mod accounts;
mod audit;
mod change_feed;
mod organizations;
pub mod testing;
mod tokens;
mod usage;
mod webhooks;

use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;
use keyward_core::{OsRng, SecureRng};
use keyward_store::{ChangeSink, Store, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Postgres;

pub(crate) use keyward_store_sql::backend;

/// PostgreSQL's fragments of the queries shared with SQLite.
pub(crate) struct PostgresDialect;

impl keyward_store_sql::Dialect for PostgresDialect {
    type Db = Postgres;
    // Byte order after ASCII folding: the C collation matches SQLite's.
    const LOWERED_NAME: &'static str = "lower(name COLLATE \"C\")";
    const HAS_SCOPE: [&'static str; 2] = [" AND scopes @> jsonb_build_array(", "::text)"];
    const NAME_CONTAINS: [&'static str; 2] = [" AND strpos(lower(name), lower(", ")) > 0"];
    const TRUE: &'static str = "TRUE";
    const NO_DIGEST: &'static str = "NULL::bytea";
    const ENQUEUE_DELIVERIES: &'static str =
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, org_id, event_type, status, attempts, created_at, next_attempt_at)
         SELECT id, $1, org_id, $2, 'pending', 0, $3, $3 FROM webhook_endpoints
         WHERE org_id = $4 AND (event_types = '[]'::jsonb OR jsonb_exists(event_types, $2))";
    // SKIP LOCKED: instances claiming at once take different deliveries
    // instead of waiting for each other.
    const CLAIM_DELIVERIES: &'static str = "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1
         WHERE (endpoint_id, event_id) IN (
             SELECT endpoint_id, event_id FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $2
             ORDER BY next_attempt_at, event_id LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING endpoint_id, event_id, attempts, sealed_payload";
    const RECORD_USES: [&'static str; 2] = [
        "UPDATE tokens SET use_count = use_count + $1, last_used_at = GREATEST(COALESCE(last_used_at, 0), $2) WHERE id = $3",
        "INSERT INTO token_usage_days (token_id, day, uses) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)
                 ON CONFLICT (token_id, day) DO UPDATE SET uses = token_usage_days.uses + excluded.uses",
    ];
    const LOCK_ORGANIZATION: Option<&'static str> = Some("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE");
    const GREATEST: &'static str = "GREATEST";
    const LEAST: &'static str = "LEAST";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const FOR_SHARE: &'static str = " FOR SHARE";
    const LAST_SUCCESSES: &'static str =
        "SELECT DISTINCT ON (v.token_id) v.token_id, v.at, v.outcome, v.client_ip, v.user_agent
         FROM token_verifications v JOIN tokens t ON t.id = v.token_id
         WHERE t.org_id = $1 AND v.outcome = 'VALID' AND v.token_id IN (SELECT jsonb_array_elements_text($2))
         ORDER BY v.token_id, v.at DESC, v.id DESC";
    type Json = serde_json::Value;
    type Count = i32;

    fn json(value: &impl serde::Serialize) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(value).map_err(|error| StoreError::Corrupt(error.to_string()))
    }

    // PostgreSQL's INTEGER: a larger count is stored as the largest it holds.
    fn count(value: u32) -> i32 {
        i32::try_from(value).unwrap_or(i32::MAX)
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A Keyward store in a PostgreSQL database (or one schema of it).
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    feed_pool: PgPool,
}

/// Bounds on waiting for the database, so a slow or locked database turns
/// into prompt errors instead of requests that hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// PostgreSQL's `statement_timeout` for every connection.
    pub statement_timeout: Duration,
    /// How long a request waits for a free connection.
    pub acquire_timeout: Duration,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { statement_timeout: Duration::from_secs(5), acquire_timeout: Duration::from_secs(3), max_connections: 16 }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to a `postgres://` URL. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(backend)?).await
    }

    /// Connects to a `postgres://` URL with explicit limits. Does not migrate.
    pub async fn connect_limited(url: &str, limits: Limits) -> Result<Self, StoreError> {
        Self::connect_with_limits(PgConnectOptions::from_str(url).map_err(backend)?, limits).await
    }

    /// Connects with explicit options (tests use this to pin a schema via
    /// `search_path`). Does not migrate.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        Self::connect_with_limits(options, Limits::default()).await
    }

    async fn connect_with_limits(options: PgConnectOptions, limits: Limits) -> Result<Self, StoreError> {
        // Set per connection, so no query (a lock wait included) outlives it
        // and holds a pooled connection hostage.
        let options = options.options([("statement_timeout", format!("{}", limits.statement_timeout.as_millis()))]);
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        // The change feed's heartbeats have connections of their own: when
        // the pool is exhausted by slow queries, the feed must still hear
        // itself, or every instance would stop trusting its cache and send
        // cached verifications to the stalled database too.
        let feed_pool =
            PgPoolOptions::new().max_connections(2).acquire_timeout(limits.acquire_timeout).connect_lazy_with(options);
        Ok(Self { pool, feed_pool })
    }

    /// The connection pool, for tools (benchmark seeding) that bulk-load rows.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn watch_token_changes(&self, sink: Weak<dyn ChangeSink>) -> Result<bool, StoreError> {
        let channel = change_feed::channel(&self.pool).await.map_err(backend)?;
        let mut instance = [0u8; 8];
        OsRng.fill(&mut instance).map_err(|error| StoreError::Backend(Box::new(error)))?;
        let instance: String = instance.iter().map(|byte| format!("{byte:02x}")).collect();
        tokio::spawn(change_feed::run(self.feed_pool.clone(), channel, instance, sink));
        Ok(true)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // A migration may rewrite a large table: it runs on a connection of
        // its own without the statement timeout (the later setting wins).
        let options = (*self.pool.connect_options()).clone().options([("statement_timeout", "0")]);
        let pool = PgPoolOptions::new().max_connections(1).connect_with(options).await.map_err(backend)?;
        let migrated = MIGRATOR.run(&pool).await.map_err(|error| StoreError::Backend(Box::new(error)));
        pool.close().await;
        migrated
    }

    async fn ping(&self) -> Result<(), StoreError> {
        keyward_store_sql::health::ping(&self.pool).await
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        keyward_store_sql::health::probe_write(&self.pool).await
    }
}
