//! The shared conformance suite against SQLite, one temporary file per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_store::Store;
use keyward_store_conformance::{conformance_tests, TestBackend};
use keyward_store_sqlite::SqliteStore;

struct Backend {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl TestBackend for Backend {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    async fn cleanup(self) {}
}

async fn make() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    store.migrate().await.unwrap();
    Some(Backend { store, _dir: dir })
}

conformance_tests!(make);

#[tokio::test]
async fn migrations_are_idempotent_and_the_file_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.writer_pool()).await.unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(store.writer_pool()).await.unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(synchronous, 2, "synchronous=FULL");
}
