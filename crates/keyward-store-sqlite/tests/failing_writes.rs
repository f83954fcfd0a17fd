//! Failing writes at commit never turn into silent success.
//!
//! The kernel refuses to grow any file past `RLIMIT_FSIZE`: with the limit
//! at one byte every write SQLite makes to its WAL fails (`EFBIG`, as a full
//! disk fails with `ENOSPC`), so each commit fails after its statements
//! succeeded. That is the fault that once left the write connection inside a
//! transaction nobody would commit, so that every later write answered
//! success and was lost. The limit is per process, so this file holds one
//! test; `SIGXFSZ` is caught, as the server does, so the process survives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use support::Workload;

#[tokio::test]
async fn commits_that_cannot_be_written_fail_and_writes_recover_without_a_restart() {
    let _caught =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw()))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let mut workload = Workload::start(&store, 20).await;

    let unlimited = getrlimit(Resource::Fsize);
    setrlimit(Resource::Fsize, Rlimit { current: Some(1), maximum: unlimited.maximum }).unwrap();
    let refused = workload.run(&store, 30).await;
    setrlimit(Resource::Fsize, unlimited).unwrap();
    assert_eq!(refused, 30, "no write can commit while no file may grow");

    assert_eq!(workload.run(&store, 40).await, 0, "writes are refused after the fault ended");
    drop(store);
    workload.check_after_restart(&path).await;
    assert!(workload.acknowledged() >= 60);
}
