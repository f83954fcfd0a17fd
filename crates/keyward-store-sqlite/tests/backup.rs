//! `backup_to` writes a whole, openable database while the store stays open
//! and writable, and never touches a file that already holds something.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_store::Store;
use keyward_store_sqlite::{url_file, SqliteStore};

async fn tables(store: &SqliteStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        .fetch_one(store.writer_pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_backup_holds_every_table_while_the_source_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    store.migrate().await.unwrap();
    let expected = tables(&store).await;
    assert!(expected > 5);

    let copy = dir.path().join("it's a \"backup\".db");
    store.backup_to(&copy).await.unwrap();
    let restored = SqliteStore::open(&copy).await.unwrap();
    assert_eq!(tables(&restored).await, expected, "the schema came along, not just the file header");

    assert!(store.backup_to(&copy).await.is_err(), "a file holding a database is never overwritten");
}

#[test]
fn urls_name_their_file_or_none_in_memory() {
    assert_eq!(url_file("sqlite:///var/lib/k/keyward.db?mode=rwc").unwrap(), Some("/var/lib/k/keyward.db".into()));
    assert_eq!(url_file("sqlite:data/k.db").unwrap(), Some("data/k.db".into()));
    assert_eq!(url_file("sqlite::memory:").unwrap(), None);
}
