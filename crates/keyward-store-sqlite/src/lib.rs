//! SQLite backend: the embedded default.
//!
//! One file in WAL mode with `synchronous=FULL`, so an acknowledged
//! revocation survives power loss. Writes go through a pool of exactly one
//! connection: SQLite admits one writer at a time anyway, and queueing in the
//! pool is fair and async where SQLite's busy handler would sleep and retry.
//! Token creations, the write that comes in bursts, are group-committed
//! (see `group_commit`). Reads use their own pool and run beside the writer
//! thanks to WAL.

mod accounts;
mod audit;
mod backup;
mod group_commit;
mod organizations;
mod tokens;
mod usage;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use keyward_store::{Store, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Sqlite;

pub use backup::url_file;

pub(crate) use keyward_store_sql::backend;

/// SQLite's fragments of the queries shared with PostgreSQL.
pub(crate) struct SqliteDialect;

impl keyward_store_sql::Dialect for SqliteDialect {
    type Db = Sqlite;
    // Byte order after ASCII folding, as SQLite's `lower` and `BINARY` compare.
    const LOWERED_NAME: &'static str = "lower(name)";
    const HAS_SCOPE: [&'static str; 2] = [" AND EXISTS (SELECT 1 FROM json_each(scopes) WHERE json_each.value = ", ")"];
    const NAME_CONTAINS: [&'static str; 2] = [" AND instr(lower(name), lower(", ")) > 0"];
    const TRUE: &'static str = "1";
    const NO_DIGEST: &'static str = "NULL";
    const ENQUEUE_DELIVERIES: &'static str =
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, org_id, event_type, status, attempts, created_at, next_attempt_at)
         SELECT id, ?1, org_id, ?2, 'pending', 0, ?3, ?3 FROM webhook_endpoints
         WHERE org_id = ?4
           AND (event_types = '[]' OR EXISTS (SELECT 1 FROM json_each(webhook_endpoints.event_types) WHERE value = ?2))";
    // SQLite has one writer, so the select inside the update cannot race
    // another claim.
    const CLAIM_DELIVERIES: &'static str = "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1
         WHERE (endpoint_id, event_id) IN (
             SELECT endpoint_id, event_id FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $2
             ORDER BY next_attempt_at, event_id LIMIT $3)
         RETURNING endpoint_id, event_id, attempts, sealed_payload";
    const RECORD_USES: [&'static str; 2] = [
        "UPDATE tokens SET use_count = use_count + $1, last_used_at = MAX(COALESCE(last_used_at, 0), $2) WHERE id = $3",
        "INSERT INTO token_usage_days (token_id, day, uses) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)
                 ON CONFLICT (token_id, day) DO UPDATE SET uses = uses + excluded.uses",
    ];
    const LOCK_ORGANIZATION: Option<&'static str> = None;
    const GREATEST: &'static str = "MAX";
    const LEAST: &'static str = "MIN";
    // One writer connection serializes every write transaction: nothing
    // read in one can change under it.
    const FOR_UPDATE: &'static str = "";
    const FOR_SHARE: &'static str = "";
    // With MAX(), SQLite takes the other columns from the row holding the
    // maximum: each token's newest successful sample.
    const LAST_SUCCESSES: &'static str = "SELECT v.token_id, MAX(v.at) AS at, v.outcome, v.client_ip, v.user_agent
         FROM token_verifications v JOIN tokens t ON t.id = v.token_id
         WHERE t.org_id = $1 AND v.outcome = 'VALID' AND v.token_id IN (SELECT value FROM json_each($2))
         GROUP BY v.token_id";
    type Json = String;
    type Count = i64;

    fn json(value: &impl serde::Serialize) -> Result<String, StoreError> {
        serde_json::to_string(value).map_err(|error| StoreError::Corrupt(error.to_string()))
    }

    fn count(value: u32) -> i64 {
        i64::from(value)
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A Keyward store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    creations: tokio::sync::mpsc::Sender<group_commit::CreateJob>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`. Does not migrate.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite://` URL. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open_with(SqliteConnectOptions::from_str(url).map_err(backend)?).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|connection, _| Box::pin(discard_if_inside_a_transaction(connection)))
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        let reader =
            SqlitePoolOptions::new().max_connections(8).connect_with(options.read_only(true)).await.map_err(backend)?;
        let creations = group_commit::spawn(writer.clone());
        Ok(Self { reader, writer, creations })
    }

    /// The write pool, for tools (benchmark seeding) that bulk-load rows.
    pub fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }
}

/// Whether the write connection may be reused: not when a transaction on
/// it ended uncleanly.
///
/// When a write fails with `SQLITE_FULL` or an I/O error, SQLite may roll
/// the whole transaction back on its own; sqlx's rollback then fails and
/// its transaction depth stays raised, so its next `begin` issues a
/// `SAVEPOINT` and its next commit only releases it. A failed `RELEASE`
/// that was to commit leaves SQLite inside the transaction as well. Either
/// way every later write on that connection would answer success and never
/// reach the file. Closing the connection ends whatever SQLite still holds
/// open (uncommitted, so nothing acknowledged is lost) and the pool opens a
/// clean one for the next write.
async fn discard_if_inside_a_transaction(connection: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    // The rollback a dropped transaction queued runs before this ping, so
    // the depth read next is the one it left.
    connection.ping().await?;
    if connection.is_in_transaction() {
        tracing::warn!("discarding the SQLite write connection: a failed write left it inside a transaction");
        return Ok(false);
    }
    Ok(true)
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|error| StoreError::Backend(Box::new(error)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        keyward_store_sql::health::ping(&self.reader).await
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        keyward_store_sql::health::probe_write(&self.writer).await
    }
}
