//! A full database never turns into silent success.
//!
//! SQLite answers `SQLITE_FULL` inside a statement when the database may not
//! grow: the `max_page_count` pragma makes that happen on demand without
//! root or a tiny file system. Writes run while it is in force and after it
//! is lifted; a fresh store then reads the file back as a restarted process
//! would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;
use support::Workload;

async fn limit_pages(store: &SqliteStore, pages: i64) {
    // The writer pool holds one connection: the pragma applies to every write.
    sqlx::query(&format!("PRAGMA max_page_count = {pages}")).execute(store.writer_pool()).await.unwrap();
}

#[tokio::test]
async fn writes_on_a_full_database_fail_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let mut workload = Workload::start(&store, 30).await;

    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(store.writer_pool()).await.unwrap();
    // A connection the store replaces after a failed write starts without
    // the limit, so it is set again before each write: the disk stays full.
    let refused = workload.run_with(&store, 60, || limit_pages(&store, pages + 2)).await;
    assert!(refused > 10, "the limit must bite: only {refused} of 60 writes were refused");

    // Space is back: writes work again without a restart.
    limit_pages(&store, 1 << 30).await;
    assert_eq!(workload.run(&store, 40).await, 0, "writes are refused after space came back");
    drop(store);
    workload.check_after_restart(&path).await;
}
