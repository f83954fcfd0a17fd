//! The user-space cost of one `POST /v1/verify` through the whole router
//! (edge middleware, routing, bearer authentication, JSON in and out, the
//! engine), without sockets, next to a bare axum route answering a fixed
//! JSON body: the part of the HTTP benchmark's gap that is ours to shrink.
//!
//! `cargo bench -p keyward-server --bench router`

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use axum::routing::post;
use axum::Router;
use criterion::Criterion;
use http_body_util::BodyExt;
use keyward_core::{Environment, OsRng, SystemClock};
use keyward_engine::{Actor, Engine, EngineConfig, NewKeyspace, NewToken, RequestContext};
use keyward_server::{router, AppState};
use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;
use tower::{Service, ServiceExt};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BARE_BODY: &str = r#"{"valid":true,"code":"VALID","token_id":"tok_0000000000000000000000","name":"bench","keyspace_id":"ks_0000000000000000000000","environment":"live","owner":"admin","scopes":["invoices:read"],"metadata":{}}"#;

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("benchmark setup failed ({what}): {error}");
    std::process::exit(1)
}

struct Fixture {
    app: Router,
    admin: String,
    body: Bytes,
    _dir: tempfile::TempDir,
}

async fn setup() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    let store = SqliteStore::open(&dir.path().join("bench.db")).await.unwrap_or_else(|e| fail("open", e));
    store.migrate().await.unwrap_or_else(|e| fail("migrate", e));
    let engine =
        Arc::new(Engine::new(Arc::new(store), Arc::new(SystemClock), Arc::new(OsRng), EngineConfig::default()));
    let bootstrap = engine
        .bootstrap()
        .await
        .unwrap_or_else(|e| fail("bootstrap", e))
        .unwrap_or_else(|| fail("bootstrap", "already done"));
    let admin = bootstrap.secret.expose().to_owned();
    let principal = engine
        .authenticate(&admin, None)
        .await
        .unwrap_or_else(|e| fail("authenticate", e))
        .unwrap_or_else(|| fail("authenticate", "refused"));
    let actor = Actor { principal, context: RequestContext::default() };
    let keyspace = engine
        .create_keyspace(
            &actor,
            NewKeyspace {
                name: "bench".into(),
                environment: Environment::Live,
                prefix: None,
                default_ttl_seconds: None,
                scope_catalog: None,
                rotation_period_days: None,
                disable_after_inactive_days: None,
            },
        )
        .await
        .unwrap_or_else(|e| fail("keyspace", e));
    let created = engine
        .issue_token(
            &actor,
            NewToken {
                keyspace_id: keyspace.id.clone(),
                name: "bench".into(),
                scopes: vec!["invoices:read".into()],
                ..NewToken::default()
            },
        )
        .await
        .unwrap_or_else(|e| fail("token", e));
    let body = format!(r#"{{"token":"{}","required_scopes":["invoices:read"]}}"#, created.secret.expose());
    Fixture { app: router(AppState::new(engine)), admin, body: Bytes::from(body), _dir: dir }
}

fn request(admin: &str, body: &Bytes) -> Request<Body> {
    let mut request = Request::post("/v1/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::HOST, "127.0.0.1:18420")
        .header(header::USER_AGENT, "wrk")
        .body(Body::from(body.clone()))
        .unwrap_or_else(|e| fail("request", e));
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50000))));
    request
}

async fn call(app: &mut Router, request: Request<Body>) -> Bytes {
    let response = ServiceExt::<Request<Body>>::ready(app)
        .await
        .unwrap_or_else(|e| fail("ready", e))
        .call(request)
        .await
        .unwrap_or_else(|e| fail("call", e));
    assert!(response.status().is_success(), "status {}", response.status());
    response.into_body().collect().await.unwrap_or_else(|e| fail("body", e)).to_bytes()
}

fn per_request(runtime: &tokio::runtime::Runtime, app: &Router, make: impl Fn() -> Request<Body>) -> Duration {
    let mut app = app.clone();
    runtime.block_on(async {
        for _ in 0..10_000 {
            black_box(call(&mut app, make()).await);
        }
        let rounds = 200_000u32;
        let started = Instant::now();
        for _ in 0..rounds {
            black_box(call(&mut app, make()).await);
        }
        started.elapsed() / rounds
    })
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| fail("runtime", e));
    let fixture = runtime.block_on(setup());
    let bare: Router =
        Router::new().route("/v1/verify", post(|| async { ([(header::CONTENT_TYPE, "application/json")], BARE_BODY) }));
    let verdict = runtime.block_on(call(&mut fixture.app.clone(), request(&fixture.admin, &fixture.body)));
    if !verdict.starts_with(br#"{"valid":true"#) {
        fail("verify", String::from_utf8_lossy(&verdict));
    }

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("bare axum fixed JSON", |b| {
        let mut app = bare.clone();
        b.iter(|| runtime.block_on(call(&mut app, request(&fixture.admin, &fixture.body))));
    });
    criterion.bench_function("keyward POST /v1/verify", |b| {
        let mut app = fixture.app.clone();
        b.iter(|| runtime.block_on(call(&mut app, request(&fixture.admin, &fixture.body))));
    });
    criterion.final_summary();

    let bare_time = per_request(&runtime, &bare, || request(&fixture.admin, &fixture.body));
    let keyward_time = per_request(&runtime, &fixture.app, || request(&fixture.admin, &fixture.body));
    println!("SUMMARY (one request through the router, no sockets, same run):");
    println!("  bare axum fixed JSON:     {:>6.2} µs", bare_time.as_secs_f64() * 1e6);
    println!("  keyward POST /v1/verify:  {:>6.2} µs", keyward_time.as_secs_f64() * 1e6);
    println!(
        "  keyward's extra work:     {:>6.2} µs per request",
        (keyward_time.as_secs_f64() - bare_time.as_secs_f64()) * 1e6
    );
}
