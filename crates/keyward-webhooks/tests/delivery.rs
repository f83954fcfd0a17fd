//! Deliveries to a real local HTTP receiver that fails first, on both
//! stores, with a manual clock: signatures checked by a verifier written
//! from `docs/webhooks.md` (not Keyward's own), retries at exactly the
//! backoff's instants, a delivery log of every attempt, and no secret in
//! any payload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use keyward_core::model::{actions, DeliveryStatus};
use keyward_core::webhook::MasterKey;
use keyward_core::{Clock, Environment, ManualClock, SeededRng};
use keyward_engine::{Actor, Engine, EngineConfig, NewKeyspace, NewToken, NewWebhook, RequestContext};
use keyward_store::{PageRequest, Store};
use keyward_store_postgres::testing::{isolated_schema, IsolatedSchema};
use keyward_store_sqlite::SqliteStore;
use keyward_webhooks::{Dispatcher, RetryPolicy};
use serde_json::Value;

/// A request as the receiver saw it.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// A local endpoint answering the queued statuses in turn, then 204.
#[derive(Clone, Default)]
struct Receiver {
    answers: Arc<Mutex<VecDeque<StatusCode>>>,
    seen: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.seen.lock().unwrap().push(Received { headers, body });
    receiver.answers.lock().unwrap().pop_front().unwrap_or(StatusCode::NO_CONTENT)
}

impl Receiver {
    async fn start(answers: &[StatusCode]) -> (Self, String) {
        let receiver = Receiver::default();
        receiver.answers.lock().unwrap().extend(answers.iter().copied());
        let app = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

/// The receiver's side of `docs/webhooks.md`, written from the spec alone:
/// split `Keyward-Signature` on commas into `key=value` pairs, take `t` and
/// every `v1`, refuse a `t` more than 300 s from now, and accept when any
/// `v1` equals hex(HMAC-SHA256(secret, t + "." + body)).
fn spec_verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), &'static str> {
    let header = headers.get("keyward-signature").ok_or("no signature header")?.to_str().map_err(|_| "not text")?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for pair in header.split(',') {
        match pair.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<i64>().map_err(|_| "bad t")?),
            Some(("v1", value)) => candidates.push(value.to_owned()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("no t")?;
    if (now - timestamp).abs() > 300 {
        return Err("stale");
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    if candidates.contains(&expected) {
        Ok(())
    } else {
        Err("no signature matches")
    }
}

enum Backing {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(IsolatedSchema),
}

struct Harness {
    name: &'static str,
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    admin: Actor,
    keyspace_id: String,
    dispatcher: Dispatcher,
    backing: Backing,
}

fn policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 3, timeout: Duration::from_secs(5), ..RetryPolicy::default() }
}

impl Harness {
    async fn new(name: &'static str, store: Arc<dyn Store>, backing: Backing) -> Self {
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
        let master_key = MasterKey::generate(&SeededRng::new(11)).unwrap().0;
        let config = EngineConfig { master_key: Some(master_key.clone()), ..EngineConfig::default() };
        let engine = Arc::new(Engine::new(store.clone(), clock.clone(), Arc::new(SeededRng::new(5)), config));
        let issued = engine.bootstrap().await.unwrap().unwrap();
        let principal = engine.authenticate(issued.secret.expose(), None).await.unwrap().unwrap();
        let admin = Actor { principal, context: RequestContext { request_id: None, source_ip: None } };
        let keyspace = NewKeyspace {
            name: "payments".into(),
            environment: Environment::Live,
            prefix: None,
            default_ttl_seconds: None,
            scope_catalog: None,
        };
        let keyspace_id = engine.create_keyspace(&admin, keyspace).await.unwrap().id;
        let dispatcher = Dispatcher::new(store, clock.clone(), master_key, policy()).unwrap();
        Self { name, engine, clock, admin, keyspace_id, dispatcher, backing }
    }

    async fn issue(&self, name: &str) -> keyward_engine::Issued {
        let input = NewToken {
            keyspace_id: self.keyspace_id.clone(),
            name: name.into(),
            scopes: vec!["invoices:read".into()],
            ..NewToken::default()
        };
        self.engine.issue_token(&self.admin, input).await.unwrap()
    }

    async fn cleanup(self) {
        if let Backing::Postgres(schema) = self.backing {
            schema.drop_schema().await.unwrap();
        }
    }
}

async fn harnesses() -> Vec<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("k.db")).await.unwrap();
    let mut all = vec![Harness::new("sqlite", Arc::new(sqlite), Backing::Sqlite(dir)).await];
    if let Some(schema) = isolated_schema().await {
        let store = Arc::new(schema.store.clone());
        all.push(Harness::new("postgres", store, Backing::Postgres(schema)).await);
    }
    all
}

#[tokio::test]
async fn a_failing_endpoint_gets_the_event_again_exactly_when_the_backoff_says() {
    for h in harnesses().await {
        let (receiver, url) =
            Receiver::start(&[StatusCode::SERVICE_UNAVAILABLE, StatusCode::INTERNAL_SERVER_ERROR]).await;
        let hook = NewWebhook { url, description: Some("ops".into()), event_types: vec![] };
        let created = h.engine.create_webhook(&h.admin, hook).await.unwrap();
        let signing_secret = created.secret.expose().to_owned();
        let t0 = h.clock.now();
        let issued = h.issue("billing worker").await;

        assert_eq!(h.dispatcher.run_due().await.unwrap(), 1, "{}: due at once", h.name);
        assert_eq!(receiver.seen().len(), 1);
        // First failure: next attempt 10 s later, not a microsecond sooner.
        h.clock.set(t0 + chrono::TimeDelta::seconds(10) - chrono::TimeDelta::microseconds(1));
        assert_eq!(h.dispatcher.run_due().await.unwrap(), 0, "{}: t−1 µs", h.name);
        h.clock.set(t0 + chrono::TimeDelta::seconds(10));
        assert_eq!(h.dispatcher.run_due().await.unwrap(), 1, "{}: t", h.name);
        // Second failure: 20 s more.
        h.clock.set(t0 + chrono::TimeDelta::seconds(29));
        assert_eq!(h.dispatcher.run_due().await.unwrap(), 0, "{}", h.name);
        h.clock.set(t0 + chrono::TimeDelta::seconds(30));
        assert_eq!(h.dispatcher.run_due().await.unwrap(), 1, "{}", h.name);
        h.clock.set(t0 + chrono::TimeDelta::seconds(3600));
        assert_eq!(h.dispatcher.run_due().await.unwrap(), 0, "{}: delivered, never again", h.name);

        let seen = receiver.seen();
        assert_eq!(seen.len(), 3);
        let times = [0, 10, 30];
        for (n, request) in seen.iter().enumerate() {
            let now = (t0 + chrono::TimeDelta::seconds(times[n])).timestamp();
            assert_eq!(spec_verify(&signing_secret, &request.headers, &request.body, now), Ok(()), "{}", h.name);
            assert_eq!(spec_verify("whsec_wrong", &request.headers, &request.body, now), Err("no signature matches"));
            assert_eq!(request.headers["keyward-delivery-attempt"], (n + 1).to_string().as_str());
            assert_eq!(request.headers["content-type"], "application/json");
            assert_eq!(request.body, seen[0].body, "the same event each time");
        }
        let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(body["type"], actions::TOKEN_CREATED, "{}", h.name);
        assert_eq!(body["target"]["id"], issued.record.id.as_str());
        assert_eq!(body["data"]["name"], "billing worker");
        assert_eq!(seen[0].headers["keyward-event-id"], body["id"].as_str().unwrap());
        assert_eq!(seen[0].headers["keyward-event-type"], actions::TOKEN_CREATED);
        let text = String::from_utf8_lossy(&seen[0].body);
        assert!(!text.contains(issued.secret.expose()) && !text.contains(&signing_secret), "no secret in a payload");
        // A replay after the tolerance is refused by the receiver.
        let late = (t0 + chrono::TimeDelta::seconds(301)).timestamp();
        assert_eq!(spec_verify(&signing_secret, &seen[0].headers, &seen[0].body, late), Err("stale"));

        let page = PageRequest::new(Some(10), None);
        let log = h.engine.list_deliveries(&h.admin, &created.endpoint.id, &page).await.unwrap();
        let delivery = &log.items[0];
        assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{}", h.name);
        let codes: Vec<_> = delivery.attempts.iter().map(|a| a.status_code).collect();
        assert_eq!(codes, [Some(503), Some(500), Some(204)], "{}", h.name);
        assert_eq!(delivery.attempts[0].error.as_deref(), Some("the endpoint answered HTTP 503"));
        assert_eq!(delivery.delivered_at, Some(t0 + chrono::TimeDelta::seconds(30)));
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_dead_endpoint_is_given_up_on_after_the_last_attempt_and_others_still_get_theirs() {
    for h in harnesses().await {
        let (healthy, healthy_url) = Receiver::start(&[]).await;
        // Nothing listens here: bind a port, then free it.
        let dead_url = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/gone", listener.local_addr().unwrap())
        };
        let only_revocations =
            NewWebhook { url: healthy_url, description: None, event_types: vec![actions::TOKEN_REVOKED.into()] };
        h.engine.create_webhook(&h.admin, only_revocations).await.unwrap();
        let dead =
            h.engine.create_webhook(&h.admin, NewWebhook { url: dead_url, ..NewWebhook::default() }).await.unwrap();
        let t0 = h.clock.now();
        let issued = h.issue("short lived").await;
        h.engine.revoke_token(&h.admin, &issued.record.id, keyward_core::model::RevokedReason::Leaked).await.unwrap();

        // The dead endpoint has two events; the healthy one only the revocation.
        assert_eq!(h.dispatcher.run_due().await.unwrap(), 3, "{}", h.name);
        assert_eq!(healthy.seen().len(), 1);
        let body: Value = serde_json::from_slice(&healthy.seen()[0].body).unwrap();
        assert_eq!((body["type"].as_str(), body["data"]["reason"].as_str()), (Some("token.revoked"), Some("leaked")));
        for (seconds, expected) in [(10, 2), (30, 2), (3600, 0)] {
            h.clock.set(t0 + chrono::TimeDelta::seconds(seconds));
            assert_eq!(h.dispatcher.run_due().await.unwrap(), expected, "{}: at +{seconds} s", h.name);
        }
        let page = PageRequest::new(Some(10), None);
        for delivery in h.engine.list_deliveries(&h.admin, &dead.endpoint.id, &page).await.unwrap().items {
            assert_eq!(delivery.status, DeliveryStatus::Failed, "{}", h.name);
            assert_eq!(delivery.attempts.len(), 3);
            assert_eq!(delivery.attempts[2].error.as_deref(), Some("could not connect to the endpoint"));
            assert!(delivery.attempts.iter().all(|a| a.status_code.is_none()));
        }
        h.cleanup().await;
    }
}

#[tokio::test]
async fn registration_checks_its_input_and_needs_a_master_key() {
    for h in harnesses().await {
        let refused = |url: &str| NewWebhook { url: url.into(), ..NewWebhook::default() };
        for url in ["http://hooks.example.com/x", "not a url", "https://user:pw@hooks.example.com/"] {
            match h.engine.create_webhook(&h.admin, refused(url)).await {
                Err(keyward_engine::EngineError::Invalid(invalid)) => assert_eq!(invalid.field, "url"),
                other => panic!("{url}: expected a 400 on url, got {other:?}"),
            }
        }
        let unknown = NewWebhook {
            url: "https://hooks.example.com/x".into(),
            event_types: vec!["token.exploded".into()],
            ..NewWebhook::default()
        };
        match h.engine.create_webhook(&h.admin, unknown).await {
            Err(keyward_engine::EngineError::Invalid(invalid)) => assert_eq!(invalid.field, "event_types"),
            other => panic!("expected a 400 on event_types, got {other:?}"),
        }
        assert!(h.engine.list_webhooks(&h.admin).await.unwrap().is_empty(), "{}: nothing half-made", h.name);
        h.cleanup().await;
    }
    // Without a master key there is nothing to seal a secret with.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("k.db")).await.unwrap());
    store.migrate().await.unwrap();
    let engine =
        Engine::new(store, Arc::new(keyward_core::SystemClock), Arc::new(SeededRng::new(1)), EngineConfig::default());
    let issued = engine.bootstrap().await.unwrap().unwrap();
    let principal = engine.authenticate(issued.secret.expose(), None).await.unwrap().unwrap();
    let admin = Actor { principal, context: RequestContext { request_id: None, source_ip: None } };
    let hook = NewWebhook { url: "https://hooks.example.com/x".into(), ..NewWebhook::default() };
    match engine.create_webhook(&admin, hook).await {
        Err(keyward_engine::EngineError::Rejected { code, .. }) => assert_eq!(code, "master_key_missing"),
        other => panic!("expected master_key_missing, got {other:?}"),
    }
}
