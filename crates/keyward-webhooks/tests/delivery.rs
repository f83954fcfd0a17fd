//! Deliveries to a real local HTTP receiver that fails first, on both
//! stores, with a manual clock: signatures checked by a verifier written
//! from `docs/webhooks.md` (not Keyward's own), retries at exactly the
//! backoff's instants, a delivery log of every attempt, and no secret in
//! any payload but the one handoff of an automatic rotation, which goes
//! to the chosen endpoint only and is erased once delivered. The local
//! receivers listen on 127.0.0.1, which webhooks may reach only because
//! these tests open it as an operator would (`webhook_allowed_networks`);
//! by default a delivery there is refused without a request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::id::{KeyspaceId, TokenId, WebhookId};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use keyward_core::audit::AuditAction;
use keyward_core::egress::EgressPolicy;
use keyward_core::model::DeliveryStatus;
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
    Sqlite(#[allow(dead_code)] tempfile::TempDir, SqliteStore),
    Postgres(IsolatedSchema),
}

impl Backing {
    /// Outbox rows still holding a sealed secret, read past the store's API.
    async fn sealed_payloads_left(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM webhook_deliveries WHERE sealed_payload IS NOT NULL";
        match self {
            Backing::Sqlite(_, store) => sqlx::query_scalar(sql).fetch_one(store.writer_pool()).await.unwrap(),
            Backing::Postgres(schema) => sqlx::query_scalar(sql).fetch_one(schema.store.pool()).await.unwrap(),
        }
    }
}

struct Harness {
    name: &'static str,
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    admin: Actor,
    keyspace_id: String,
    dispatcher: Dispatcher,
    store: Arc<dyn Store>,
    master_key: MasterKey,
    backing: Backing,
}

/// What these tests open: the local receivers' loopback address, as an
/// operator running a receiver on the same host would.
fn local_receivers() -> EgressPolicy {
    EgressPolicy::parse("127.0.0.1/32").unwrap()
}

fn policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 3, timeout: Duration::from_secs(5), ..RetryPolicy::default() }
}

impl Harness {
    async fn new(name: &'static str, store: Arc<dyn Store>, backing: Backing) -> Self {
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
        let master_key = MasterKey::generate(&SeededRng::new(11)).unwrap().0;
        let config = EngineConfig {
            master_key: Some(master_key.clone()),
            webhook_egress: local_receivers(),
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::new(store.clone(), clock.clone(), Arc::new(SeededRng::new(5)), config));
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
        let dispatcher =
            Dispatcher::new(store.clone(), clock.clone(), master_key.clone(), policy(), local_receivers()).unwrap();
        Self { name, engine, clock, admin, keyspace_id, dispatcher, store, master_key, backing }
    }

    /// Another dispatcher over the same outbox, delivering where `egress` allows.
    fn dispatcher_under(&self, egress: EgressPolicy) -> Dispatcher {
        Dispatcher::new(self.store.clone(), self.clock.clone(), self.master_key.clone(), policy(), egress).unwrap()
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
    let mut all = vec![Harness::new("sqlite", Arc::new(sqlite.clone()), Backing::Sqlite(dir, sqlite)).await];
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
        assert_eq!(body["type"], AuditAction::TokenCreated.as_str(), "{}", h.name);
        assert_eq!(body["target"]["id"], issued.record.id.as_str());
        assert_eq!(body["data"]["name"], "billing worker");
        assert_eq!(seen[0].headers["keyward-event-id"], body["id"].as_str().unwrap());
        assert_eq!(seen[0].headers["keyward-event-type"], AuditAction::TokenCreated.as_str());
        let text = String::from_utf8_lossy(&seen[0].body);
        assert!(!text.contains(issued.secret.expose()) && !text.contains(&signing_secret), "no secret in a payload");
        // A replay after the tolerance is refused by the receiver.
        let late = (t0 + chrono::TimeDelta::seconds(301)).timestamp();
        assert_eq!(spec_verify(&signing_secret, &seen[0].headers, &seen[0].body, late), Err("stale"));

        let page = PageRequest::new(Some(10), None);
        let log =
            h.engine.list_deliveries(&h.admin, &WebhookId::parse(&created.endpoint.id).unwrap(), &page).await.unwrap();
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
        let only_revocations = NewWebhook {
            url: healthy_url,
            description: None,
            event_types: vec![AuditAction::TokenRevoked.to_string()],
        };
        h.engine.create_webhook(&h.admin, only_revocations).await.unwrap();
        let dead =
            h.engine.create_webhook(&h.admin, NewWebhook { url: dead_url, ..NewWebhook::default() }).await.unwrap();
        let t0 = h.clock.now();
        let issued = h.issue("short lived").await;
        h.engine
            .revoke_token(
                &h.admin,
                &TokenId::parse(&issued.record.id).unwrap(),
                keyward_core::model::RevokedReason::Leaked,
            )
            .await
            .unwrap();

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
        for delivery in h
            .engine
            .list_deliveries(&h.admin, &WebhookId::parse(&dead.endpoint.id).unwrap(), &page)
            .await
            .unwrap()
            .items
        {
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
    let admin = Actor { principal, context: RequestContext::default() };
    let hook = NewWebhook { url: "https://hooks.example.com/x".into(), ..NewWebhook::default() };
    match engine.create_webhook(&admin, hook).await {
        Err(keyward_engine::EngineError::Rejected { code, .. }) => assert_eq!(code, "master_key_missing"),
        other => panic!("expected master_key_missing, got {other:?}"),
    }
}

async fn verify_code(h: &Harness, secret: &str) -> keyward_engine::VerifyCode {
    h.engine.verify_with(secret, &keyward_engine::VerifyOptions::default(), |verdict| verdict.code).await.unwrap()
}

fn bodies(receiver: &Receiver) -> Vec<(Received, Value)> {
    receiver
        .seen()
        .into_iter()
        .map(|r| {
            let body = serde_json::from_slice(&r.body).unwrap();
            (r, body)
        })
        .collect()
}

#[tokio::test]
async fn an_opted_in_token_is_rotated_when_due_and_only_the_chosen_endpoint_receives_its_successor() {
    use keyward_core::model::AutoRotate;
    use keyward_engine::{LifecycleReport, VerifyCode};
    for h in harnesses().await {
        let (chosen, chosen_url) = Receiver::start(&[StatusCode::SERVICE_UNAVAILABLE]).await;
        let (bystander, bystander_url) = Receiver::start(&[]).await;
        let hook = |url: String, types: &[&str]| NewWebhook {
            url,
            description: None,
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        };
        // The handoff goes to the chosen endpoint whatever it subscribed to.
        let chosen_hook =
            h.engine.create_webhook(&h.admin, hook(chosen_url, &[AuditAction::TokenRevoked.as_str()])).await.unwrap();
        h.engine.create_webhook(&h.admin, hook(bystander_url, &[])).await.unwrap();
        let t0 = h.clock.now();
        let input = NewToken {
            keyspace_id: h.keyspace_id.clone(),
            name: "billing worker".into(),
            scopes: vec!["invoices:read".into()],
            rotation_period_days: Some(30),
            auto_rotate: Some(AutoRotate { webhook_id: chosen_hook.endpoint.id.clone(), grace_period_seconds: 3600 }),
            ..NewToken::default()
        };
        let old = h.engine.issue_token(&h.admin, input).await.unwrap();
        assert_eq!(old.record.auto_rotate.as_ref().unwrap().grace_period_seconds, 3600);
        let due = t0 + chrono::TimeDelta::days(30);

        h.clock.set(due - chrono::TimeDelta::seconds(1));
        assert_eq!(h.engine.run_lifecycle().await.unwrap(), LifecycleReport::default(), "{}: t−1 s", h.name);
        h.clock.set(due);
        let report = h.engine.run_lifecycle().await.unwrap();
        assert_eq!(report, LifecycleReport { rotated: 1, ..LifecycleReport::default() }, "{}: t", h.name);
        assert_eq!(h.engine.run_lifecycle().await.unwrap(), LifecycleReport::default(), "{}: once", h.name);

        // The first attempt fails (503); the handoff waits sealed for its retry.
        while h.dispatcher.run_due().await.unwrap() > 0 {}
        assert_eq!(h.backing.sealed_payloads_left().await, 1, "{}: kept sealed for the retry", h.name);
        h.clock.set(due + chrono::TimeDelta::seconds(10));
        while h.dispatcher.run_due().await.unwrap() > 0 {}
        assert_eq!(h.backing.sealed_payloads_left().await, 0, "{}: erased once delivered", h.name);

        let handoffs = bodies(&chosen);
        assert_eq!(handoffs.len(), 2, "{}: the failed attempt and its retry, nothing else", h.name);
        assert!(handoffs.iter().all(|(_, body)| body["type"] == AuditAction::TokenAutoRotated.as_str()), "{}", h.name);
        let (request, body) = &handoffs[1];
        let now = (due + chrono::TimeDelta::seconds(10)).timestamp();
        assert_eq!(spec_verify(chosen_hook.secret.expose(), &request.headers, &request.body, now), Ok(()));
        let new_secret = body["data"]["token"].as_str().unwrap().to_owned();
        assert_eq!(body["data"]["rotated_from"], old.record.id.as_str(), "{}", h.name);
        let new_id = body["target"]["id"].as_str().unwrap().to_owned();
        assert_eq!(verify_code(&h, &new_secret).await, VerifyCode::Valid, "{}: the handed-off token works", h.name);
        assert_eq!(verify_code(&h, old.secret.expose()).await, VerifyCode::Valid, "{}: old one in grace", h.name);
        h.clock.set(due + chrono::TimeDelta::seconds(3600));
        assert_eq!(verify_code(&h, old.secret.expose()).await, VerifyCode::Expired, "{}: grace over", h.name);

        // Everyone else hears of the rotation, never of the secret.
        let seen_by_bystander = bodies(&bystander);
        assert!(
            seen_by_bystander.iter().any(|(_, body)| body["type"] == AuditAction::TokenRotated.as_str()),
            "{}",
            h.name
        );
        for (request, body) in &seen_by_bystander {
            assert_ne!(body["type"], AuditAction::TokenAutoRotated.as_str(), "{}", h.name);
            assert!(!String::from_utf8_lossy(&request.body).contains(&new_secret), "{}", h.name);
        }
        let audit =
            h.engine.list_audit(&h.admin, &Default::default(), &PageRequest::new(Some(100), None)).await.unwrap();
        assert!(audit.items.iter().any(|event| event.action == AuditAction::TokenAutoRotated), "{}", h.name);
        assert!(
            !serde_json::to_string(&audit.items).unwrap().contains(&new_secret),
            "{}: not in the audit log",
            h.name
        );

        // The successor carries the opt-in on, and is due a period later.
        let successor = h.engine.get_token(&h.admin, &TokenId::parse(&new_id).unwrap()).await.unwrap();
        assert_eq!(successor.auto_rotate, old.record.auto_rotate, "{}", h.name);
        assert_eq!(successor.rotated_from.as_deref(), Some(old.record.id.as_str()));

        // Deleting the endpoint turns the opt-in off: then the rotation is only announced.
        h.engine.delete_webhook(&h.admin, &WebhookId::parse(&chosen_hook.endpoint.id).unwrap()).await.unwrap();
        assert_eq!(
            h.engine.get_token(&h.admin, &TokenId::parse(&new_id).unwrap()).await.unwrap().auto_rotate,
            None,
            "{}",
            h.name
        );
        h.clock.set(due + chrono::TimeDelta::days(30));
        assert_eq!(
            h.engine.run_lifecycle().await.unwrap(),
            LifecycleReport { notices: 1, ..LifecycleReport::default() },
            "{}: announced as due",
            h.name
        );
        h.cleanup().await;
    }
}

#[tokio::test]
async fn opting_in_to_automatic_rotation_checks_endpoint_grace_and_period() {
    use keyward_core::model::AutoRotate;
    use keyward_engine::{EngineError, TokenChanges};
    for h in harnesses().await {
        let hook = NewWebhook { url: "https://hooks.example.com/rotate".into(), ..NewWebhook::default() };
        let endpoint = h.engine.create_webhook(&h.admin, hook).await.unwrap().endpoint.id;
        let opt_in = |webhook_id: &str, grace: u32, period: Option<u32>| NewToken {
            keyspace_id: h.keyspace_id.clone(),
            name: "worker".into(),
            scopes: vec!["invoices:read".into()],
            rotation_period_days: period,
            auto_rotate: Some(AutoRotate { webhook_id: webhook_id.into(), grace_period_seconds: grace }),
            ..NewToken::default()
        };
        for (input, field) in [
            (opt_in("whk_nope", 3600, Some(30)), "auto_rotate.webhook_id"),
            (opt_in("not an id", 3600, Some(30)), "auto_rotate.webhook_id"),
            (opt_in(&endpoint, 59, Some(30)), "auto_rotate.grace_period"),
            (opt_in(&endpoint, 7 * 86_400 + 1, Some(30)), "auto_rotate.grace_period"),
            (opt_in(&endpoint, 3600, None), "auto_rotate"),
        ] {
            match h.engine.issue_token(&h.admin, input).await {
                Err(EngineError::Invalid(invalid)) => assert_eq!(invalid.field, field, "{}", h.name),
                other => panic!("{}: expected a 400 on {field}, got {other:?}", h.name),
            }
        }
        // By PATCH: allowed once the token has a period; null turns it off.
        let token = h.issue("worker").await.record.id;
        let auto = AutoRotate { webhook_id: endpoint.clone(), grace_period_seconds: 600 };
        let changes = |auto: Option<AutoRotate>, period: Option<Option<u32>>| TokenChanges {
            auto_rotate: Some(auto),
            rotation_period_days: period,
            ..TokenChanges::default()
        };
        match h.engine.update_token(&h.admin, &TokenId::parse(&token).unwrap(), changes(Some(auto.clone()), None)).await
        {
            Err(EngineError::Invalid(invalid)) => assert_eq!(invalid.field, "auto_rotate", "{}", h.name),
            other => panic!("{}: expected a 400, got {other:?}", h.name),
        }
        let updated = h
            .engine
            .update_token(&h.admin, &TokenId::parse(&token).unwrap(), changes(Some(auto.clone()), Some(Some(7))))
            .await
            .unwrap();
        assert_eq!(updated.auto_rotate, Some(auto.clone()), "{}", h.name);
        let updated =
            h.engine.update_token(&h.admin, &TokenId::parse(&token).unwrap(), changes(None, Some(None))).await.unwrap();
        assert_eq!((updated.auto_rotate, updated.rotation_period_days), (None, None), "{}", h.name);
        // Its keyspace's period is one that will make it due, too.
        h.engine
            .set_keyspace_lifecycle(&h.admin, &KeyspaceId::parse(&h.keyspace_id).unwrap(), Some(30), None)
            .await
            .unwrap();
        let updated = h
            .engine
            .update_token(&h.admin, &TokenId::parse(&token).unwrap(), changes(Some(auto.clone()), None))
            .await
            .unwrap();
        assert_eq!(updated.auto_rotate, Some(auto), "{}: the keyspace's period counts", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_replaced_signing_secret_keeps_signing_alongside_the_new_one_for_the_overlap_only() {
    for h in harnesses().await {
        let (receiver, url) = Receiver::start(&[]).await;
        let created = h.engine.create_webhook(&h.admin, NewWebhook { url, ..NewWebhook::default() }).await.unwrap();
        let id = &created.endpoint.id;
        for overlap in [-1, 7 * 86_400 + 1] {
            match h.engine.rotate_webhook_secret(&h.admin, &WebhookId::parse(id).unwrap(), overlap).await {
                Err(keyward_engine::EngineError::Invalid(invalid)) => assert_eq!(invalid.field, "overlap"),
                other => panic!("{}: expected a 400 on overlap, got {other:?}", h.name),
            }
        }
        let old_secret = created.secret.expose().to_owned();
        let t0 = h.clock.now();
        let rotated = h.engine.rotate_webhook_secret(&h.admin, &WebhookId::parse(id).unwrap(), 3600).await.unwrap();
        let new_secret = rotated.secret.expose().to_owned();
        assert_ne!(new_secret, old_secret);

        h.clock.set(t0 + chrono::TimeDelta::seconds(3599));
        h.issue("during the overlap").await;
        while h.dispatcher.run_due().await.unwrap() > 0 {}
        h.clock.set(t0 + chrono::TimeDelta::seconds(3600));
        h.issue("after the overlap").await;
        while h.dispatcher.run_due().await.unwrap() > 0 {}

        let seen = receiver.seen();
        let [during, after] = &seen[..] else { panic!("{}: expected two deliveries, got {}", h.name, seen.len()) };
        let at = |seconds: i64| (t0 + chrono::TimeDelta::seconds(seconds)).timestamp();
        for secret in [&old_secret, &new_secret] {
            assert_eq!(spec_verify(secret, &during.headers, &during.body, at(3599)), Ok(()), "{}", h.name);
        }
        assert_eq!(spec_verify(&new_secret, &after.headers, &after.body, at(3600)), Ok(()), "{}", h.name);
        assert_eq!(spec_verify(&old_secret, &after.headers, &after.body, at(3600)), Err("no signature matches"));
        match h
            .engine
            .rotate_webhook_secret(&h.admin, &WebhookId::parse("whk_0000000000000000000000").unwrap(), 0)
            .await
        {
            Err(keyward_engine::EngineError::NotFound(_)) => {}
            other => panic!("{}: expected 404, got {other:?}", h.name),
        }
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_delivery_and_the_log_keeps_no_status_or_time() {
    for h in harnesses().await {
        let (receiver, url) = Receiver::start(&[]).await;
        // A name is accepted at registration: what it resolves to is judged
        // at each delivery. `localhost` resolves to loopback addresses only.
        let by_name = url.replace("127.0.0.1", "localhost");
        let hook = NewWebhook { url: by_name, ..NewWebhook::default() };
        let created = h.engine.create_webhook(&h.admin, hook).await.unwrap();
        let t0 = h.clock.now();
        h.issue("watched").await;

        let strict = h.dispatcher_under(EgressPolicy::default());
        assert_eq!(strict.run_due().await.unwrap(), 1, "{}: attempted", h.name);
        assert!(receiver.seen().is_empty(), "{}: no request reached the receiver", h.name);
        let page = PageRequest::new(Some(10), None);
        let log =
            h.engine.list_deliveries(&h.admin, &WebhookId::parse(&created.endpoint.id).unwrap(), &page).await.unwrap();
        let delivery = &log.items[0];
        assert_eq!(delivery.status, DeliveryStatus::Failed, "{}: given up at once", h.name);
        assert_eq!(delivery.next_attempt_at, None);
        let [attempt] = &delivery.attempts[..] else { panic!("one attempt: {delivery:?}") };
        assert_eq!((attempt.status_code, attempt.duration_ms), (None, None), "{}: nothing to time or scan", h.name);
        assert_eq!(attempt.refused_by.as_deref(), Some("loopback"));
        let error = attempt.error.as_deref().unwrap_or_default();
        assert!(error.contains("localhost") && error.contains("loopback"), "names the host and rule: {error}");
        assert!(error.contains("KEYWARD_WEBHOOK_ALLOWED_NETWORKS"), "says how an operator allows it: {error}");
        assert!(!error.contains("127.0.0.1") && !error.contains("::1"), "not what the name resolved to: {error}");
        h.clock.set(t0 + chrono::TimeDelta::seconds(3600));
        assert_eq!(strict.run_due().await.unwrap(), 0, "{}: a refusal is not retried", h.name);
        assert!(receiver.seen().is_empty());

        // With 127.0.0.1/32 opened the next event gets through, to the
        // address that was checked (`localhost` may also resolve to ::1,
        // which stays refused and is not connected to).
        h.issue("watched too").await;
        assert_eq!(h.dispatcher.run_due().await.unwrap(), 1, "{}", h.name);
        assert_eq!(receiver.seen().len(), 1, "{}: delivered", h.name);
        let log =
            h.engine.list_deliveries(&h.admin, &WebhookId::parse(&created.endpoint.id).unwrap(), &page).await.unwrap();
        let delivered = &log.items[0];
        assert_eq!(delivered.status, DeliveryStatus::Succeeded, "{}", h.name);
        assert_eq!(delivered.attempts[0].status_code, Some(204));
        assert!(delivered.attempts[0].duration_ms.is_some() && delivered.attempts[0].refused_by.is_none());
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_literal_address_is_checked_again_at_delivery() {
    for h in harnesses().await {
        // Registered while 127.0.0.1 was open (or before the rules existed).
        let (receiver, url) = Receiver::start(&[]).await;
        let created = h.engine.create_webhook(&h.admin, NewWebhook { url, ..NewWebhook::default() }).await.unwrap();
        h.issue("watched").await;
        let elsewhere = h.dispatcher_under(EgressPolicy::parse("10.0.0.0/8").unwrap());
        assert_eq!(elsewhere.run_due().await.unwrap(), 1, "{}", h.name);
        assert!(receiver.seen().is_empty(), "{}: no request", h.name);
        let page = PageRequest::new(Some(10), None);
        let log =
            h.engine.list_deliveries(&h.admin, &WebhookId::parse(&created.endpoint.id).unwrap(), &page).await.unwrap();
        let attempt = &log.items[0].attempts[0];
        assert_eq!(log.items[0].status, DeliveryStatus::Failed, "{}", h.name);
        assert_eq!(
            (attempt.status_code, attempt.duration_ms, attempt.refused_by.as_deref()),
            (None, None, Some("loopback"))
        );
        let error = attempt.error.as_deref().unwrap_or_default();
        assert!(error.contains("127.0.0.1/32") && error.contains("webhook_allowed_networks"), "{error}");
        h.cleanup().await;
    }
}

#[tokio::test]
async fn registration_refuses_literal_internal_addresses_unless_opened() {
    for h in harnesses().await {
        let register =
            |url: &str| h.engine.create_webhook(&h.admin, NewWebhook { url: url.into(), ..NewWebhook::default() });
        // Opened here: 127.0.0.1/32 alone.
        assert!(register("http://127.0.0.1:9/in").await.is_ok(), "{}", h.name);
        for (url, rule) in [
            ("http://127.0.0.2:5432/", "loopback"),
            ("http://[::1]:5432/", "loopback"),
            ("https://10.0.0.7/", "private"),
            ("https://169.254.169.254/", "link_local"),
        ] {
            match register(url).await {
                Err(keyward_engine::EngineError::DestinationForbidden { field, refusal }) => {
                    assert_eq!((field, refusal.rule.code()), ("url", rule), "{url}");
                }
                other => panic!("{url}: expected a forbidden destination, got {other:?}"),
            }
        }
        h.cleanup().await;
    }
}
