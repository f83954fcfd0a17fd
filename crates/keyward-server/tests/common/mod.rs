//! What the HTTP test files share: a real server on 127.0.0.1:0 over a real
//! store, and helpers to call it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_core::{OsRng, SystemClock};
use keyward_engine::{Engine, EngineConfig};
use keyward_server::{router, serve, AppState};
use keyward_store::Store;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub client: Client,
    /// The engine behind it, for what tests drive directly (a lifecycle pass).
    pub engine: Arc<Engine>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub async fn start(store: Arc<dyn Store>, dir: Option<tempfile::TempDir>) -> TestServer {
    start_trusting(store, dir, &[]).await
}

pub async fn start_trusting(store: Arc<dyn Store>, dir: Option<tempfile::TempDir>, proxies: &[&str]) -> TestServer {
    start_with(store, dir, proxies, EngineConfig::default()).await
}

pub async fn start_with(
    store: Arc<dyn Store>,
    dir: Option<tempfile::TempDir>,
    proxies: &[&str],
    config: EngineConfig,
) -> TestServer {
    start_clocked(store, dir, proxies, config, Arc::new(SystemClock)).await
}

pub async fn start_clocked(
    store: Arc<dyn Store>,
    dir: Option<tempfile::TempDir>,
    proxies: &[&str],
    config: EngineConfig,
    clock: Arc<dyn keyward_core::Clock>,
) -> TestServer {
    store.migrate().await.unwrap();
    let engine = Arc::new(Engine::new(store, clock, Arc::new(OsRng), config));
    let admin = engine.bootstrap().await.unwrap().unwrap().secret.expose().to_owned();
    let proxies = keyward_core::ip::parse_list(proxies).unwrap();
    let app = router(AppState::new(engine.clone()).with_trusted_proxies(proxies));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, async move {
        let _ = rx.await;
    }));
    TestServer { base, admin, client: Client::new(), engine, shutdown: Some(tx), _dir: dir }
}

pub async fn sqlite_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    // With a master key, as `keyward serve` on a data directory has one.
    let master_key = keyward_core::webhook::MasterKey::generate(&OsRng).unwrap().0;
    let config = EngineConfig { master_key: Some(master_key), ..EngineConfig::default() };
    start_with(Arc::new(store), Some(dir), &[], config).await
}

/// [`sqlite_server`] on a manual clock, for lifecycle boundaries.
pub async fn sqlite_server_at(clock: Arc<keyward_core::ManualClock>) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    let master_key = keyward_core::webhook::MasterKey::generate(&OsRng).unwrap().0;
    let config = EngineConfig { master_key: Some(master_key), ..EngineConfig::default() };
    start_clocked(Arc::new(store), Some(dir), &[], config, clock).await
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// A new keyspace ("payments 1", "payments 2", …: names are unique
    /// per organization).
    pub async fn keyspace(&self, environment: &str) -> String {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let name = format!("payments {}", MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let response = self
            .post("/v1/keyspaces", &self.admin, json!({"name": name, "environment": environment, "prefix": "pay"}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    pub async fn token(&self, body: Value) -> Value {
        let response = self.post("/v1/tokens", &self.admin, body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn verify(&self, token: &str, required: &[&str]) -> Value {
        let response = self.post("/v1/verify", &self.admin, json!({"token": token, "required_scopes": required})).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

pub async fn problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].as_str().unwrap().ends_with(code));
    body
}

pub async fn management_keyspace(server: &TestServer) -> String {
    let list: Value = server.get("/v1/keyspaces", &server.admin).await.json().await.unwrap();
    list["data"].as_array().unwrap().iter().find(|k| k["management"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
