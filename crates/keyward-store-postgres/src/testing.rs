//! Isolated PostgreSQL stores for tests: each gets its own schema, dropped
//! afterwards. When PostgreSQL is unreachable the caller is told to skip,
//! loudly; under `CI=true` that is a failure instead, so CI can never pass
//! by silently testing nothing.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use keyward_core::{OsRng, SecureRng};
use keyward_store::{Store, StoreError};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::PostgresStore;

/// Where tests find PostgreSQL unless `KEYWARD_TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA_PREFIX: &str = "kwtest_";
/// Schemas older than this are left over from crashed runs and swept.
const STALE_AFTER_SECS: u64 = 3600;

/// A migrated store in a schema of its own.
#[derive(Debug)]
pub struct IsolatedSchema {
    /// The store, pinned to the schema.
    pub store: PostgresStore,
    /// The database URL (without the schema).
    pub url: String,
    /// The schema name.
    pub schema: String,
}

/// The URL tests use.
pub fn test_url() -> String {
    std::env::var("KEYWARD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.to_owned())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// A fresh migrated schema, or `None` (after a loud message) when PostgreSQL
/// is unreachable outside CI.
///
/// # Panics
/// When PostgreSQL is unreachable under `CI=true`, or the schema cannot be set up.
#[allow(clippy::panic)]
pub async fn isolated_schema() -> Option<IsolatedSchema> {
    let url = test_url();
    let mut admin = match PgConnection::connect(&url).await {
        Ok(connection) => connection,
        Err(error) if under_ci() => {
            panic!("PostgreSQL is unreachable at {url} and CI=true, so this is a failure: {error}")
        }
        Err(error) => {
            eprintln!(
                "\n!!! SKIPPED: PostgreSQL is unreachable at {url} ({error}).\n\
                 !!! Start it (see README, \"Running on PostgreSQL\") or set KEYWARD_TEST_DATABASE_URL.\n"
            );
            return None;
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    sweep_stale_schemas(&mut admin, now).await;
    let mut random = [0u8; 8];
    if let Err(error) = OsRng.fill(&mut random) {
        panic!("{error}");
    }
    let schema = format!("{SCHEMA_PREFIX}{now}_{}", u64::from_le_bytes(random));
    if let Err(error) = sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut admin).await {
        panic!("cannot create test schema {schema}: {error}");
    }
    let _ = admin.close().await;
    let options = match PgConnectOptions::from_str(&url) {
        Ok(options) => options.options([("search_path", schema.as_str())]),
        Err(error) => panic!("bad test URL {url}: {error}"),
    };
    let store = match PostgresStore::connect_with(options).await {
        Ok(store) => store,
        Err(error) => panic!("cannot connect to test schema {schema}: {error}"),
    };
    if let Err(error) = store.migrate().await {
        panic!("migrations failed in {schema}: {error}");
    }
    Some(IsolatedSchema { store, url, schema })
}

impl IsolatedSchema {
    /// A connection URL that pins the schema, for processes started by tests.
    pub fn url_with_schema(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.url, self.schema)
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) -> Result<(), StoreError> {
        self.store.pool().close().await;
        let mut admin = PgConnection::connect(&self.url).await.map_err(|e| StoreError::Backend(Box::new(e)))?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .execute(&mut admin)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(())
    }
}

async fn sweep_stale_schemas(admin: &mut PgConnection, now: u64) {
    let Ok(names) = sqlx::query_scalar::<_, String>("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kwtest\\_%'")
        .fetch_all(&mut *admin)
        .await
    else {
        return;
    };
    for name in names {
        let created = name
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|secs| now.saturating_sub(secs) > STALE_AFTER_SECS) {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).execute(&mut *admin).await;
        }
    }
}
