//! The single-store harness of the engine's behaviour tests: one engine
//! over a fresh SQLite store, with time and randomness injected, shared by
//! the test files split by concern.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use keyward_core::model::CatalogScope;
use keyward_core::{Environment, ManualClock, SeededRng};
use keyward_engine::{Actor, Engine, EngineConfig, NewKeyspace, RequestContext};
use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;

/// An engine over a fresh SQLite store, its admin, and its clock.
pub struct Harness {
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub admin: Actor,
    pub admin_secret: String,
    _dir: tempfile::TempDir,
}

pub async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("k.db")).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
    let engine =
        Arc::new(Engine::new(Arc::new(store), clock.clone(), Arc::new(SeededRng::new(42)), EngineConfig::default()));
    let issued = engine.bootstrap().await.unwrap().expect("first bootstrap issues a token");
    let principal = engine.authenticate(issued.secret.expose(), None).await.unwrap().expect("admin authenticates");
    let admin = Actor {
        principal,
        context: RequestContext {
            request_id: Some("req-9".into()),
            source_ip: Some([192, 0, 2, 1].into()),
            user_agent: None,
        },
    };
    Harness { engine, clock, admin, admin_secret: issued.secret.expose().to_owned(), _dir: dir }
}

/// A customer keyspace, with a scope catalog when `allowed` is given.
pub async fn keyspace(h: &Harness, allowed: Option<Vec<&str>>) -> String {
    h.clock.advance_secs(1);
    let input = NewKeyspace {
        name: "payments".into(),
        environment: Environment::Live,
        prefix: Some("pay".into()),
        default_ttl_seconds: None,
        scope_catalog: allowed.map(|list| list.into_iter().map(described).collect()),
        rotation_period_days: None,
        disable_after_inactive_days: None,
    };
    h.engine.create_keyspace(&h.admin, input).await.unwrap().id
}

pub fn described(scope: &str) -> CatalogScope {
    CatalogScope { scope: scope.to_owned(), description: format!("Lets a token {scope}") }
}

pub fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
