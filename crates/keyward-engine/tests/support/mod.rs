//! A test engine on each available store (the embedded SQLite and a real
//! PostgreSQL, skipped loudly when absent and a failure under `CI=true`),
//! with a manual clock so lifecycle boundaries are judged exactly.
#![allow(dead_code)]

use keyward_core::id::TokenId;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use keyward_core::audit::AuditAction;
use keyward_core::{Environment, ManualClock, SeededRng};
use keyward_engine::{
    Actor, Engine, EngineConfig, EngineError, Issued, NewKeyspace, NewToken, RequestContext, RotationRequest,
    VerifyCode, VerifyOptions,
};
use keyward_store::{AuditFilter, PageRequest, Store};
use keyward_store_postgres::testing::{isolated_schema, IsolatedSchema};
use keyward_store_sqlite::SqliteStore;
use serde_json::json;

/// What keeps a backend alive for one test.
pub enum Backing {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(IsolatedSchema),
}

pub struct Harness {
    pub name: &'static str,
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub admin: Actor,
    pub keyspace_id: String,
    pub backing: Backing,
}

impl Harness {
    pub async fn new(name: &'static str, store: Arc<dyn Store>, backing: Backing, config: EngineConfig) -> Self {
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
        let engine = Arc::new(Engine::new(store, clock.clone(), Arc::new(SeededRng::new(7)), config));
        let issued = engine.bootstrap().await.unwrap().unwrap();
        let principal = engine.authenticate(issued.secret.expose(), None).await.unwrap().unwrap();
        let admin = Actor { principal, context: RequestContext::default() };
        let keyspace = NewKeyspace {
            name: "payments".into(),
            environment: Environment::Live,
            prefix: None,
            default_ttl_seconds: None,
            scope_catalog: None,
            rotation_period_days: None,
            disable_after_inactive_days: None,
        };
        let keyspace_id = engine.create_keyspace(&admin, keyspace).await.unwrap().id;
        Self { name, engine, clock, admin, keyspace_id, backing }
    }

    pub async fn issue(&self, name: &str, expires_in: Option<i64>) -> Issued {
        let input = NewToken {
            keyspace_id: self.keyspace_id.clone(),
            name: name.into(),
            scopes: vec!["invoices:read".into()],
            expires_in,
            metadata: Some(json!({"team": "billing"})),
            allowed_ips: vec!["203.0.113.0/24".into()],
            ..NewToken::default()
        };
        self.engine.issue_token(&self.admin, input).await.unwrap()
    }

    pub async fn rotate(&self, id: &str, grace: i64) -> Result<keyward_engine::Rotated, EngineError> {
        let request = RotationRequest { grace_period_seconds: grace, expires_in: None };
        self.engine.rotate_token(&self.admin, &TokenId::parse(id).unwrap(), request).await
    }

    pub fn at(&self, instant: DateTime<Utc>) {
        self.clock.set(instant);
    }

    pub async fn code(&self, secret: &str) -> VerifyCode {
        let options = VerifyOptions { client_ip: Some([203, 0, 113, 5].into()), ..VerifyOptions::default() };
        self.engine.verify_with(secret, &options, |verdict| verdict.code).await.unwrap()
    }

    pub async fn actions_on(&self, id: &str) -> Vec<AuditAction> {
        let filter = AuditFilter { target_id: Some(id.into()), ..AuditFilter::default() };
        let page = self.engine.list_audit(&self.admin, &filter, &PageRequest::new(Some(200), None)).await.unwrap();
        page.items.into_iter().map(|event| event.action).collect()
    }

    pub async fn cleanup(self) {
        if let Backing::Postgres(schema) = self.backing {
            schema.drop_schema().await.unwrap();
        }
    }
}

/// One harness per available backend.
pub async fn harnesses() -> Vec<Harness> {
    harnesses_with(EngineConfig::default()).await
}

/// One harness per available backend, each engine configured with `config`.
pub async fn harnesses_with(config: EngineConfig) -> Vec<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("k.db")).await.unwrap();
    let mut all = vec![Harness::new("sqlite", Arc::new(sqlite), Backing::Sqlite(dir), config.clone()).await];
    if let Some(schema) = isolated_schema().await {
        let store = Arc::new(schema.store.clone());
        all.push(Harness::new("postgres", store, Backing::Postgres(schema), config).await);
    }
    all
}

pub fn rejected_code(result: Result<impl std::fmt::Debug, EngineError>) -> &'static str {
    match result {
        Err(EngineError::Rejected { code, .. }) => code,
        other => panic!("expected a 409 refusal, got {other:?}"),
    }
}

pub fn invalid_field(result: Result<impl std::fmt::Debug, EngineError>) -> &'static str {
    match result {
        Err(EngineError::Invalid(invalid)) => invalid.field,
        other => panic!("expected a 400 naming a field, got {other:?}"),
    }
}
