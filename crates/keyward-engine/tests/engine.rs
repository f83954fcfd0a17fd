//! Engine behaviour over a real SQLite store, with time and randomness injected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use keyward_core::model::{CatalogScope, RevokedReason};
use keyward_core::policy::TokenPolicy;
use keyward_core::scope::management;
use keyward_core::{Environment, ManualClock, SeededRng};
use keyward_engine::{
    Actor, Engine, EngineConfig, EngineError, NewKeyspace, NewToken, RequestContext, TokenChanges, VerifyCode,
    VerifyOptions,
};
use keyward_store::{AuditFilter, PageRequest, Store, TokenFilter};
use keyward_store_sqlite::SqliteStore;
use serde_json::json;

struct Harness {
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    admin: Actor,
    admin_secret: String,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
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

async fn keyspace(h: &Harness, allowed: Option<Vec<&str>>) -> String {
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

fn described(scope: &str) -> CatalogScope {
    CatalogScope { scope: scope.to_owned(), description: format!("Lets a token {scope}") }
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn bootstrap_happens_once_and_the_admin_holds_every_management_scope() {
    let h = harness().await;
    assert!(h.engine.bootstrap().await.unwrap().is_none());
    assert!(h.admin_secret.starts_with("kw_live_"));
    for scope in management::ALL {
        assert!(h.admin.holds(scope), "{scope}");
    }
}

#[tokio::test]
async fn issue_then_verify_with_and_without_required_scopes() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: ks.clone(),
                name: "billing worker".into(),
                scopes: scopes(&["invoices:read", "invoices:write"]),
                metadata: Some(json!({"team": "billing"})),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    let secret = issued.secret.expose();
    assert!(secret.starts_with("pay_live_"));
    assert_eq!(issued.record.owner, "admin", "owner defaults to the caller's owner");

    let ok = h.engine.verify(secret, &scopes(&["invoices:read"])).await.unwrap();
    assert_eq!(ok.code, VerifyCode::Valid);
    let token = ok.token().unwrap();
    assert_eq!((token.id.as_str(), token.keyspace_id.as_str()), (issued.record.id.as_str(), ks.as_str()));

    let denied = h.engine.verify(secret, &scopes(&["invoices:read", "refunds:create", "users:read"])).await.unwrap();
    assert_eq!(denied.code, VerifyCode::InsufficientScope);
    assert_eq!(denied.missing_scopes, scopes(&["refunds:create", "users:read"]));

    // The borrowing form answers the same, without copying the record out.
    let required = h.engine.require_scopes(scopes(&["invoices:read", "refunds:create"]));
    let (code, id, missing) = h
        .engine
        .verify_with(secret, &VerifyOptions { required_scopes: &required, ..Default::default() }, |verdict| {
            (verdict.code, verdict.token().map(|t| t.id.clone()), verdict.missing_scopes().join(" "))
        })
        .await
        .unwrap();
    assert_eq!(
        (code, id.as_deref(), missing.as_str()),
        (VerifyCode::InsufficientScope, Some(issued.record.id.as_str()), "refunds:create")
    );
    let unknown = h
        .engine
        .verify_with("kw_live_nope", &VerifyOptions::default(), |verdict| (verdict.code, verdict.token().is_none()))
        .await;
    assert_eq!(unknown.unwrap(), (VerifyCode::Malformed, true));

    let customer_token_on_api = h.engine.authenticate(secret, None).await.unwrap();
    assert!(customer_token_on_api.is_none(), "a customer token never authenticates to the management API");
}

#[tokio::test]
async fn garbage_and_unknown_tokens() {
    let h = harness().await;
    assert_eq!(h.engine.verify("not a token", &[]).await.unwrap().code, VerifyCode::Malformed);
    let mut typo = h.admin_secret.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    assert_eq!(h.engine.verify(&typo, &[]).await.unwrap().code, VerifyCode::Malformed, "checksum catches typos");

    let other = Engine::new(
        Arc::new({
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("o.db")).await.unwrap();
            store.migrate().await.unwrap();
            std::mem::forget(dir);
            store
        }),
        h.clock.clone(),
        Arc::new(SeededRng::new(7)),
        EngineConfig::default(),
    );
    let foreign = other.bootstrap().await.unwrap().unwrap();
    let unknown = h.engine.verify(foreign.secret.expose(), &[]).await.unwrap();
    assert_eq!(unknown.code, VerifyCode::NotFound);
    assert!(unknown.token().is_none());
}

#[tokio::test]
async fn expiry_is_exact_at_the_boundary() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(
            &h.admin,
            NewToken { keyspace_id: ks, name: "short".into(), expires_in: Some(60), ..NewToken::default() },
        )
        .await
        .unwrap();
    let secret = issued.secret.expose();
    h.clock.advance_secs(59);
    assert_eq!(h.engine.verify(secret, &[]).await.unwrap().code, VerifyCode::Valid, "t-1s");
    h.clock.advance_secs(1);
    assert_eq!(h.engine.verify(secret, &[]).await.unwrap().code, VerifyCode::Expired, "t");
    h.clock.advance_secs(1);
    assert_eq!(h.engine.verify(secret, &[]).await.unwrap().code, VerifyCode::Expired, "t+1s");
}

#[tokio::test]
async fn keyspace_default_ttl_applies_when_no_expiry_is_given() {
    let h = harness().await;
    let ks = h
        .engine
        .create_keyspace(
            &h.admin,
            NewKeyspace {
                name: "ci".into(),
                environment: Environment::Test,
                prefix: None,
                default_ttl_seconds: Some(3600),
                scope_catalog: None,
                rotation_period_days: None,
                disable_after_inactive_days: None,
            },
        )
        .await
        .unwrap();
    let issued = h
        .engine
        .issue_token(&h.admin, NewToken { keyspace_id: ks.id, name: "ci".into(), ..NewToken::default() })
        .await
        .unwrap();
    assert!(issued.secret.expose().starts_with("kw_test_"));
    assert_eq!(issued.record.expires_at, Some(h.clock.now_plus(3600)));
}

trait NowPlus {
    fn now_plus(&self, seconds: i64) -> chrono::DateTime<Utc>;
}

impl NowPlus for ManualClock {
    fn now_plus(&self, seconds: i64) -> chrono::DateTime<Utc> {
        use keyward_core::Clock;
        self.now() + chrono::Duration::seconds(seconds)
    }
}

#[tokio::test]
async fn revocation_is_effective_on_the_next_verify_even_when_cached() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(&h.admin, NewToken { keyspace_id: ks, name: "doomed".into(), ..NewToken::default() })
        .await
        .unwrap();
    let secret = issued.secret.expose().to_owned();
    assert_eq!(h.engine.verify(&secret, &[]).await.unwrap().code, VerifyCode::Valid);
    let revoked = h.engine.revoke_token(&h.admin, &issued.record.id, RevokedReason::UserAction).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(h.engine.verify(&secret, &[]).await.unwrap().code, VerifyCode::Revoked);
    // Idempotent: a second revoke succeeds and keeps the first time.
    let again = h.engine.revoke_token(&h.admin, &issued.record.id, RevokedReason::UserAction).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_racing_verifications_never_leaves_a_stale_cache() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    for round in 0..30 {
        let issued = h
            .engine
            .issue_token(
                &h.admin,
                NewToken { keyspace_id: ks.clone(), name: format!("race {round}"), ..NewToken::default() },
            )
            .await
            .unwrap();
        let secret = issued.secret.expose().to_owned();
        let verifiers: Vec<_> = (0..4)
            .map(|_| {
                let engine = h.engine.clone();
                let secret = secret.clone();
                tokio::spawn(async move {
                    for _ in 0..50 {
                        engine.verify(&secret, &[]).await.unwrap();
                    }
                })
            })
            .collect();
        h.engine.revoke_token(&h.admin, &issued.record.id, RevokedReason::UserAction).await.unwrap();
        // From the moment revoke returned, no verify may answer VALID.
        for _ in 0..20 {
            assert_eq!(h.engine.verify(&secret, &[]).await.unwrap().code, VerifyCode::Revoked, "round {round}");
            tokio::task::yield_now().await;
        }
        for verifier in verifiers {
            verifier.await.unwrap();
        }
        assert_eq!(h.engine.verify(&secret, &[]).await.unwrap().code, VerifyCode::Revoked, "round {round}");
    }
}

#[tokio::test]
async fn updates_are_visible_to_the_next_verify() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(&h.admin, NewToken { keyspace_id: ks, name: "old".into(), ..NewToken::default() })
        .await
        .unwrap();
    h.engine.verify(issued.secret.expose(), &[]).await.unwrap();
    h.engine
        .update_token(
            &h.admin,
            &issued.record.id,
            TokenChanges { name: Some("new".into()), metadata: Some(json!({"v": 2})), ..TokenChanges::default() },
        )
        .await
        .unwrap();
    let verdict = h.engine.verify(issued.secret.expose(), &[]).await.unwrap();
    let seen = verdict.token().unwrap();
    assert_eq!((seen.name.as_str(), &seen.metadata), ("new", &json!({"v": 2})));
    let empty = h.engine.update_token(&h.admin, &issued.record.id, TokenChanges::default()).await;
    assert!(matches!(empty, Err(EngineError::Invalid(_))));
}

#[tokio::test]
async fn no_escalation_through_management_tokens() {
    let h = harness().await;
    let management_ks = h.engine.list_keyspaces(&h.admin, &PageRequest::first()).await.unwrap().items[0].id.clone();
    let limited = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: management_ks.clone(),
                name: "ci writer".into(),
                scopes: scopes(&[management::TOKENS_WRITE]),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    let limited_actor = Actor {
        principal: h.engine.authenticate(limited.secret.expose(), None).await.unwrap().unwrap(),
        context: RequestContext::default(),
    };
    let escalate = h
        .engine
        .issue_token(
            &limited_actor,
            NewToken {
                keyspace_id: management_ks.clone(),
                name: "broader".into(),
                scopes: scopes(&[management::TOKENS_WRITE, management::AUDIT_READ]),
                ..NewToken::default()
            },
        )
        .await;
    match escalate {
        Err(EngineError::Escalation { scopes }) => assert_eq!(scopes, vec![management::AUDIT_READ.to_owned()]),
        other => panic!("expected escalation refusal, got {other:?}"),
    }
    // Equal or narrower is fine.
    h.engine
        .issue_token(
            &limited_actor,
            NewToken {
                keyspace_id: management_ks,
                name: "same".into(),
                scopes: scopes(&[management::TOKENS_WRITE]),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    // And the limited token cannot read the audit log.
    let audit = h.engine.list_audit(&limited_actor, &AuditFilter::default(), &PageRequest::first()).await;
    assert!(matches!(audit, Err(EngineError::Forbidden { .. })));
}

#[tokio::test]
async fn customer_keyspaces_refuse_reserved_and_disallowed_scopes() {
    let h = harness().await;
    let ks = keyspace(&h, Some(vec!["invoices:*"])).await;
    let reserved = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: ks.clone(),
                name: "x".into(),
                scopes: scopes(&["keyward:tokens:write"]),
                ..NewToken::default()
            },
        )
        .await;
    assert!(matches!(reserved, Err(EngineError::Invalid(ref f)) if f.field == "scopes"), "{reserved:?}");
    let outside = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: ks.clone(),
                name: "x".into(),
                scopes: scopes(&["users:read"]),
                ..NewToken::default()
            },
        )
        .await;
    assert!(matches!(outside, Err(EngineError::Invalid(ref f)) if f.field == "scopes"), "{outside:?}");
    h.engine
        .issue_token(
            &h.admin,
            NewToken { keyspace_id: ks, name: "x".into(), scopes: scopes(&["invoices:read"]), ..NewToken::default() },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_expiries_and_unknown_keyspaces_are_refused() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let past = h.clock.now_plus(-1);
    let cases = [
        NewToken { keyspace_id: ks.clone(), name: "x".into(), expires_at: Some(past), ..NewToken::default() },
        NewToken { keyspace_id: ks.clone(), name: "x".into(), expires_in: Some(0), ..NewToken::default() },
        NewToken {
            keyspace_id: ks.clone(),
            name: "x".into(),
            expires_in: Some(5),
            expires_at: Some(h.clock.now_plus(10)),
            ..NewToken::default()
        },
        NewToken { keyspace_id: ks.clone(), name: " ".into(), ..NewToken::default() },
        NewToken { keyspace_id: ks.clone(), name: "x".into(), metadata: Some(json!([1])), ..NewToken::default() },
    ];
    for case in cases {
        assert!(matches!(h.engine.issue_token(&h.admin, case.clone()).await, Err(EngineError::Invalid(_))), "{case:?}");
    }
    let missing = h
        .engine
        .issue_token(
            &h.admin,
            NewToken { keyspace_id: "ks_0000000000000000000000".into(), name: "x".into(), ..NewToken::default() },
        )
        .await;
    assert!(matches!(missing, Err(EngineError::NotFound("keyspace"))));
    let tokens = h.engine.list_tokens(&h.admin, TokenFilter::default(), &PageRequest::first()).await.unwrap();
    assert_eq!(tokens.items.len(), 1, "only the admin token exists: nothing half-created");
}

#[tokio::test]
async fn usage_is_counted_in_batches_and_lost_by_no_flush() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(&h.admin, NewToken { keyspace_id: ks, name: "busy".into(), ..NewToken::default() })
        .await
        .unwrap();
    for _ in 0..5 {
        h.clock.advance_secs(1);
        h.engine.verify(issued.secret.expose(), &[]).await.unwrap();
    }
    let before = h.engine.get_token(&h.admin, &issued.record.id).await.unwrap();
    assert_eq!(before.use_count, 0, "no synchronous write per verification");
    h.engine.flush_usage().await.unwrap();
    let after = h.engine.get_token(&h.admin, &issued.record.id).await.unwrap();
    assert_eq!(after.use_count, 5);
    assert_eq!(after.last_used_at, Some(h.clock.now_plus(0)));
    // Denied verifications do not count as uses.
    h.engine.verify(issued.secret.expose(), &scopes(&["x:y"])).await.unwrap();
    assert_eq!(h.engine.flush_usage().await.unwrap(), 0);
}

#[tokio::test]
async fn every_mutation_is_audited_with_its_request_context() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    // Events in the same microsecond are ordered by id; step the clock so
    // the expected order is the order of the calls.
    h.clock.advance_secs(1);
    let issued = h
        .engine
        .issue_token(&h.admin, NewToken { keyspace_id: ks, name: "a".into(), ..NewToken::default() })
        .await
        .unwrap();
    h.clock.advance_secs(1);
    h.engine
        .update_token(&h.admin, &issued.record.id, TokenChanges { name: Some("b".into()), ..TokenChanges::default() })
        .await
        .unwrap();
    h.clock.advance_secs(1);
    h.engine.revoke_token(&h.admin, &issued.record.id, RevokedReason::UserAction).await.unwrap();
    let events = h.engine.list_audit(&h.admin, &AuditFilter::default(), &PageRequest::first()).await.unwrap().items;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["token.revoked", "token.updated", "token.created", "keyspace.created", "admin.bootstrapped"]);
    let revoke = &events[0];
    assert_eq!(revoke.actor, h.admin.principal.id());
    assert_eq!(revoke.request_id.as_deref(), Some("req-9"));
    assert_eq!(revoke.source_ip.as_deref(), Some("192.0.2.1"));
    let serialized = serde_json::to_string(&events).unwrap();
    assert!(!serialized.contains(issued.secret.expose()), "no secret in the audit log");
}

async fn verify_from(h: &Harness, secret: &str, client_ip: Option<&str>) -> VerifyCode {
    let options = VerifyOptions { client_ip: client_ip.map(|ip| ip.parse().unwrap()), ..Default::default() };
    h.engine.verify_with(secret, &options, |verdict| verdict.code).await.unwrap()
}

#[tokio::test]
async fn ip_allowlists_admit_only_their_networks_in_both_families() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: ks,
                name: "office".into(),
                allowed_ips: scopes(&["203.0.113.0/24", "2001:db8:1::/48"]),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    let secret = issued.secret.expose();
    assert_eq!(verify_from(&h, secret, Some("203.0.113.77")).await, VerifyCode::Valid);
    assert_eq!(verify_from(&h, secret, Some("::ffff:203.0.113.77")).await, VerifyCode::Valid);
    assert_eq!(verify_from(&h, secret, Some("2001:db8:1:2::3")).await, VerifyCode::Valid);
    assert_eq!(verify_from(&h, secret, Some("198.51.100.1")).await, VerifyCode::ForbiddenIp);
    assert_eq!(verify_from(&h, secret, Some("2001:db8:2::1")).await, VerifyCode::ForbiddenIp);
    assert_eq!(verify_from(&h, secret, None).await, VerifyCode::ForbiddenIp, "no address: fail closed");

    // Lifting the restriction takes effect on the next verify.
    let changes = TokenChanges { allowed_ips: Some(Vec::new()), ..TokenChanges::default() };
    h.engine.update_token(&h.admin, &issued.record.id, changes).await.unwrap();
    assert_eq!(verify_from(&h, secret, Some("198.51.100.1")).await, VerifyCode::Valid);

    let bad = NewToken {
        keyspace_id: issued.record.keyspace_id.clone(),
        name: "x".into(),
        allowed_ips: scopes(&["10.0.0.1/8"]),
        ..NewToken::default()
    };
    match h.engine.issue_token(&h.admin, bad).await {
        Err(EngineError::Invalid(invalid)) => {
            assert_eq!(invalid.field, "allowed_ips");
            assert!(invalid.message.contains("10.0.0.0/8"), "{}", invalid.message);
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[tokio::test]
async fn management_tokens_with_an_allowlist_authenticate_only_from_it() {
    let h = harness().await;
    let management_ks = h.engine.list_keyspaces(&h.admin, &PageRequest::first()).await.unwrap().items[0].id.clone();
    let pinned = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: management_ks,
                name: "ci".into(),
                scopes: scopes(&[management::VERIFY]),
                allowed_ips: scopes(&["192.0.2.0/24"]),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    let secret = pinned.secret.expose();
    assert!(h.engine.authenticate(secret, Some([192, 0, 2, 9].into())).await.unwrap().is_some());
    assert!(h.engine.authenticate(secret, Some([198, 51, 100, 9].into())).await.unwrap().is_none());
    assert!(h.engine.authenticate(secret, None).await.unwrap().is_none());
}

#[tokio::test]
async fn a_token_verifies_only_against_its_own_keyspace() {
    let h = harness().await;
    let live = keyspace(&h, None).await;
    let test = h
        .engine
        .create_keyspace(
            &h.admin,
            NewKeyspace {
                name: "payments".into(),
                environment: Environment::Test,
                prefix: Some("pay".into()),
                default_ttl_seconds: None,
                scope_catalog: None,
                rotation_period_days: None,
                disable_after_inactive_days: None,
            },
        )
        .await
        .unwrap()
        .id;
    let issued = h
        .engine
        .issue_token(
            &h.admin,
            NewToken { keyspace_id: test.clone(), name: "t".into(), scopes: scopes(&["a:b"]), ..NewToken::default() },
        )
        .await
        .unwrap();
    assert!(issued.secret.expose().starts_with("pay_test_"));
    let check = |keyspace: String| {
        let engine = h.engine.clone();
        let secret = issued.secret.expose().to_owned();
        async move {
            let required = engine.require_scopes(scopes(&["a:b"]));
            let options =
                VerifyOptions { required_scopes: &required, keyspace_id: Some(&keyspace), ..Default::default() };
            engine.verify_with(&secret, &options, |verdict| verdict.code).await.unwrap()
        }
    };
    assert_eq!(check(test).await, VerifyCode::Valid);
    assert_eq!(check(live).await, VerifyCode::NotFound, "a test token never passes for a live keyspace");
}

#[tokio::test]
async fn widening_scopes_needs_confirmation_and_is_audited_with_before_and_after() {
    let h = harness().await;
    let ks = keyspace(&h, Some(vec!["invoices:*", "refunds:read"])).await;
    let issued = h
        .engine
        .issue_token(
            &h.admin,
            NewToken { keyspace_id: ks, name: "t".into(), scopes: scopes(&["invoices:read"]), ..NewToken::default() },
        )
        .await
        .unwrap();
    let id = issued.record.id.clone();
    let secret = issued.secret.expose();

    // Narrowing needs no confirmation.
    let narrow = TokenChanges { scopes: Some(scopes(&["invoices:read@project/1"])), ..TokenChanges::default() };
    h.engine.update_token(&h.admin, &id, narrow).await.unwrap();
    h.clock.advance_secs(1);
    assert_eq!(h.engine.verify(secret, &scopes(&["invoices:read"])).await.unwrap().code, VerifyCode::InsufficientScope);
    assert!(h.engine.verify(secret, &scopes(&["invoices:read@project/1"])).await.unwrap().is_valid());

    let widen = TokenChanges { scopes: Some(scopes(&["invoices:read", "refunds:read"])), ..TokenChanges::default() };
    match h.engine.update_token(&h.admin, &id, widen.clone()).await {
        Err(EngineError::ConfirmationRequired { broader }) => {
            assert_eq!(broader, scopes(&["invoices:read", "refunds:read"]))
        }
        other => panic!("expected a confirmation request, got {other:?}"),
    }
    assert_eq!(h.engine.verify(secret, &scopes(&["refunds:read"])).await.unwrap().code, VerifyCode::InsufficientScope);

    let confirmed = TokenChanges { confirm_broader_scopes: true, ..widen };
    h.engine.update_token(&h.admin, &id, confirmed).await.unwrap();
    assert!(h.engine.verify(secret, &scopes(&["refunds:read"])).await.unwrap().is_valid());

    let outside = TokenChanges {
        scopes: Some(scopes(&["users:delete"])),
        confirm_broader_scopes: true,
        ..TokenChanges::default()
    };
    assert!(matches!(h.engine.update_token(&h.admin, &id, outside).await, Err(EngineError::Invalid(_))));

    let filter = AuditFilter { action: Some("token.updated".into()), ..AuditFilter::default() };
    let events = h.engine.list_audit(&h.admin, &filter, &PageRequest::first()).await.unwrap().items;
    let widened = &events[0].details;
    assert_eq!(widened["scopes_before"], json!(["invoices:read@project/1"]));
    assert_eq!(widened["scopes_after"], json!(["invoices:read", "refunds:read"]));
    assert_eq!(widened["broadened"], json!(true));
    assert_eq!(events[1].details["broadened"], json!(false));
}

/// A second organization founded by the operator, and its admin.
async fn tenant(h: &Harness, name: &str) -> (Actor, String) {
    h.clock.advance_secs(1);
    let founded = h.engine.create_organization(&h.admin, name).await.unwrap();
    let secret = founded.admin.secret.expose().to_owned();
    let principal = h.engine.authenticate(&secret, None).await.unwrap().expect("the new admin authenticates");
    assert_eq!(principal.org_id(), founded.organization.id);
    (Actor { principal, context: RequestContext::default() }, secret)
}

#[tokio::test]
async fn organizations_are_founded_by_the_operator_with_their_own_admin() {
    let h = harness().await;
    let (tenant_admin, _) = tenant(&h, "Acme").await;
    let held = tenant_admin.principal.scopes();
    let held: Vec<&str> = held.iter().map(String::as_str).collect();
    assert_eq!(held, management::ORGANIZATION, "organization admins hold no operator scope");
    assert!(matches!(h.engine.create_organization(&tenant_admin, "Nested").await, Err(EngineError::Forbidden { .. })));
    assert!(matches!(
        h.engine.list_organizations(&tenant_admin, &PageRequest::first()).await,
        Err(EngineError::Forbidden { .. })
    ));
    let own = h.engine.get_organization(&tenant_admin, tenant_admin.org_id()).await.unwrap();
    assert_eq!((own.name.as_str(), own.operator), ("Acme", false));
    assert!(matches!(
        h.engine.get_organization(&tenant_admin, h.admin.org_id()).await,
        Err(EngineError::NotFound("organization"))
    ));
    let all = h.engine.list_organizations(&h.admin, &PageRequest::first()).await.unwrap().items;
    assert_eq!(all.len(), 2);
    assert!(matches!(h.engine.create_organization(&h.admin, " ").await, Err(EngineError::Invalid(_))));

    // The tenant admin cannot mint an operator token: it does not hold the scope.
    let spaces = h.engine.list_keyspaces(&tenant_admin, &PageRequest::first()).await.unwrap().items;
    assert_eq!(spaces.len(), 1, "a new organization sees only its own management keyspace");
    let escalation = h
        .engine
        .issue_token(
            &tenant_admin,
            NewToken {
                keyspace_id: spaces[0].id.clone(),
                name: "operator?".into(),
                scopes: scopes(&[management::ORGANIZATIONS_WRITE]),
                ..NewToken::default()
            },
        )
        .await;
    assert!(matches!(escalation, Err(EngineError::Escalation { .. })), "{escalation:?}");

    let log = h.engine.list_audit(&h.admin, &AuditFilter::default(), &PageRequest::first()).await.unwrap().items;
    assert_eq!(log[0].action, "organization.created", "the founding is in the operator's log");
}

#[tokio::test]
async fn one_tenant_finds_nothing_of_another() {
    let h = harness().await;
    let (other, _) = tenant(&h, "Other").await;
    let ours = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: ours.clone(),
                name: "ours".into(),
                scopes: scopes(&["invoices:read"]),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    let id = issued.record.id.clone();
    let not_found = |result: Result<_, EngineError>, what: &str| match result {
        Err(EngineError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {:?}", other.map(|_| ())),
    };
    not_found(h.engine.get_keyspace(&other, &ours).await.map(|_| ()), "get keyspace");
    not_found(h.engine.get_token(&other, &id).await.map(|_| ()), "get token");
    not_found(
        h.engine
            .update_token(&other, &id, TokenChanges { name: Some("x".into()), ..TokenChanges::default() })
            .await
            .map(|_| ()),
        "update token",
    );
    not_found(h.engine.revoke_token(&other, &id, RevokedReason::UserAction).await.map(|_| ()), "revoke token");
    not_found(
        h.engine
            .issue_token(&other, NewToken { keyspace_id: ours.clone(), name: "in".into(), ..NewToken::default() })
            .await
            .map(|_| ()),
        "issue into a foreign keyspace",
    );
    let listed = h.engine.list_tokens(&other, TokenFilter::default(), &PageRequest::first()).await.unwrap().items;
    assert!(listed.iter().all(|t| t.org_id == other.org_id()));
    let by_target = AuditFilter { target_id: Some(id.clone()), ..AuditFilter::default() };
    assert!(h.engine.list_audit(&other, &by_target, &PageRequest::first()).await.unwrap().items.is_empty());

    // Verification through the other tenant's eyes: as unknown as garbage.
    let secret = issued.secret.expose();
    let foreign = VerifyOptions { org_id: Some(other.org_id()), ..VerifyOptions::default() };
    let code = h.engine.verify_with(secret, &foreign, |verdict| verdict.code).await.unwrap();
    assert_eq!(code, VerifyCode::NotFound);
    let own = VerifyOptions { org_id: Some(h.admin.org_id()), ..VerifyOptions::default() };
    assert_eq!(h.engine.verify_with(secret, &own, |verdict| verdict.code).await.unwrap(), VerifyCode::Valid);
    assert_eq!(h.engine.get_token(&h.admin, &id).await.unwrap().name, "ours", "foreign calls changed nothing");
}

#[tokio::test]
async fn scope_catalogs_are_checked_described_and_replaced_with_an_audit_trail() {
    let h = harness().await;
    let ks = keyspace(&h, Some(vec!["invoices:read", "refunds:*"])).await;
    let issue = |scope: &str| {
        h.engine.issue_token(
            &h.admin,
            NewToken { keyspace_id: ks.clone(), name: "t".into(), scopes: scopes(&[scope]), ..NewToken::default() },
        )
    };
    issue("invoices:read@project/7").await.expect("a binding of a catalog scope");
    issue("refunds:create").await.expect("covered by the catalog's explicit wildcard");
    match issue("invoices:write").await {
        Err(EngineError::Invalid(field)) => {
            assert_eq!(field.field, "scopes");
            assert!(field.message.contains("`invoices:write` is not in the scope catalog"), "{}", field.message);
            assert!(field.message.contains("invoices:read, refunds:*"), "names what is offered: {}", field.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let invalid = |entries: Vec<CatalogScope>| h.engine.replace_scope_catalog(&h.admin, &ks, Some(entries));
    for (entries, needle) in [
        (vec![described("invoices:read"), described("invoices:read")], "listed twice"),
        (vec![described("Invoices:Read")], "lowercase"),
        (vec![described("invoices:read@project/1")], "no resource binding"),
        (vec![described("keyward:tokens:write")], "reserved"),
        (
            vec![CatalogScope { scope: "invoices:read".into(), description: "  ".into() }],
            "description of `invoices:read`",
        ),
    ] {
        match invalid(entries).await {
            Err(EngineError::Invalid(field)) => assert!(field.message.contains(needle), "{needle}: {}", field.message),
            other => panic!("{needle}: expected a refusal, got {other:?}"),
        }
    }
    let too_many = (0..=256).map(|n| described(&format!("r{n}:read"))).collect();
    assert!(matches!(invalid(too_many).await, Err(EngineError::Invalid(_))));

    let updated = invalid(vec![described("invoices:write")]).await.unwrap();
    assert_eq!(updated.scope_catalog.unwrap()[0].description, "Lets a token invoices:write");
    issue("invoices:write").await.expect("the new catalog applies at once");
    assert!(matches!(issue("invoices:read").await, Err(EngineError::Invalid(_))));

    let filter = AuditFilter { action: Some("keyspace.scopes_changed".into()), ..AuditFilter::default() };
    let events = h.engine.list_audit(&h.admin, &filter, &PageRequest::first()).await.unwrap().items;
    assert_eq!(events.len(), 1, "refused changes leave no trace");
    assert_eq!(events[0].details["scopes_before"][1]["scope"], "refunds:*");
    assert_eq!(events[0].details["scopes_after"][0]["scope"], "invoices:write");

    let management_ks = h.engine.list_keyspaces(&h.admin, &PageRequest::first()).await.unwrap();
    let management_ks = management_ks.items.iter().find(|k| k.management).unwrap().id.clone();
    assert!(matches!(
        h.engine.replace_scope_catalog(&h.admin, &management_ks, None).await,
        Err(EngineError::Invalid(_))
    ));
    let (other, _) = tenant(&h, "Other").await;
    assert!(matches!(h.engine.replace_scope_catalog(&other, &ks, None).await, Err(EngineError::NotFound("keyspace"))));
}

#[tokio::test]
async fn token_policies_govern_new_and_changed_tokens_and_report_old_ones() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let new_token = |name: &str, scope: &str| NewToken {
        keyspace_id: ks.clone(),
        name: name.into(),
        scopes: scopes(&[scope]),
        owner: Some("usr_alice".into()),
        allowed_ips: vec!["10.0.0.0/8".into()],
        expires_in: Some(3600),
        ..NewToken::default()
    };
    // Made before the policy: never expires, holds a scope the policy will not grant.
    let old = h
        .engine
        .issue_token(&h.admin, NewToken { expires_in: None, allowed_ips: vec![], ..new_token("old", "users:delete") })
        .await
        .unwrap();

    let invalid =
        TokenPolicy { max_lifetime_seconds: Some(60), default_lifetime_seconds: Some(120), ..TokenPolicy::default() };
    assert!(matches!(h.engine.set_token_policy(&h.admin, invalid).await, Err(EngineError::Invalid(_))));
    let policy = TokenPolicy {
        max_lifetime_seconds: Some(7 * 86_400),
        default_lifetime_seconds: Some(86_400),
        require_expiry: true,
        grantable_scopes: Some(vec!["invoices:*".into()]),
        require_ip_allowlist: true,
        max_active_tokens_per_owner: Some(3),
        max_rotation_grace_seconds: Some(3600),
        disable_after_inactive_days: Some(90),
        warning_days: Some(vec![14, 3]),
        rotation_period_days: Some(30),
    };
    let organization = h.engine.set_token_policy(&h.admin, policy.clone()).await.unwrap();
    assert_eq!(organization.token_policy, policy);

    let codes = |result: Result<keyward_engine::Issued, EngineError>| match result {
        Err(EngineError::PolicyViolation { violations }) => violations.iter().map(|v| v.code).collect::<Vec<_>>(),
        other => panic!("expected a policy violation, got {:?}", other.map(|issued| issued.record.id)),
    };
    h.clock.advance_secs(1);
    let defaulted = h.engine.issue_token(&h.admin, NewToken { expires_in: None, ..new_token("a", "invoices:read") });
    let defaulted = defaulted.await.unwrap();
    assert_eq!(defaulted.record.expires_at, Some(defaulted.record.created_at + chrono::Duration::days(1)));
    let too_long = NewToken { expires_in: Some(7 * 86_400 + 1), ..new_token("b", "invoices:read") };
    assert_eq!(codes(h.engine.issue_token(&h.admin, too_long).await), ["lifetime_too_long"]);
    let at_limit = NewToken { expires_in: Some(7 * 86_400), ..new_token("b", "invoices:read") };
    h.engine.issue_token(&h.admin, at_limit).await.expect("exactly the maximum lifetime");
    let everything_wrong = NewToken { allowed_ips: vec![], ..new_token("c", "users:delete") };
    assert_eq!(
        codes(h.engine.issue_token(&h.admin, everything_wrong).await),
        ["scope_not_grantable", "ip_allowlist_required", "too_many_active_tokens"],
        "alice holds three active tokens already (old, a, b); every broken rule is named"
    );
    let bob = NewToken { owner: Some("usr_bob".into()), ..new_token("d", "invoices:write") };
    h.engine.issue_token(&h.admin, bob).await.expect("another owner has room");

    // Changes may not introduce violations in what they change, but an old
    // violation elsewhere does not block an unrelated change.
    let widen = TokenChanges {
        scopes: Some(scopes(&["refunds:read"])),
        confirm_broader_scopes: true,
        ..TokenChanges::default()
    };
    match h.engine.update_token(&h.admin, &defaulted.record.id, widen).await {
        Err(EngineError::PolicyViolation { violations }) => assert_eq!(violations[0].field, "scopes"),
        other => panic!("expected a policy violation, got {other:?}"),
    }
    let open_up = TokenChanges { allowed_ips: Some(vec![]), ..TokenChanges::default() };
    assert!(matches!(
        h.engine.update_token(&h.admin, &defaulted.record.id, open_up).await,
        Err(EngineError::PolicyViolation { .. })
    ));
    let rename = TokenChanges { name: Some("old, renamed".into()), ..TokenChanges::default() };
    h.engine.update_token(&h.admin, &old.record.id, rename).await.expect("renaming a violating token is fine");

    // The old token keeps working, and is reported.
    assert!(h.engine.verify(old.secret.expose(), &[]).await.unwrap().is_valid());
    let findings = h.engine.policy_violations(&h.admin, &PageRequest::new(Some(200), None)).await.unwrap().items;
    let old_finding = findings.iter().find(|f| f.token.id == old.record.id).expect("the old token is reported");
    let old_codes: Vec<&str> = old_finding.violations.iter().map(|v| v.code).collect();
    assert_eq!(old_codes, ["expiry_required", "scope_not_grantable", "ip_allowlist_required"]);
    assert!(findings.iter().all(|f| f.token.id != defaulted.record.id), "compliant tokens are not reported");
    let management_admin = findings.iter().find(|f| f.token.management).expect("the bootstrap admin never expires");
    assert_eq!(management_admin.violations[0].code, "expiry_required");

    let log = h
        .engine
        .list_audit(
            &h.admin,
            &AuditFilter { action: Some("organization.policy_changed".into()), ..AuditFilter::default() },
            &PageRequest::first(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].details["policy_after"]["max_active_tokens_per_owner"], 3);
    assert_eq!(log[0].details["policy_before"]["require_expiry"], false);
}

#[tokio::test]
async fn creations_racing_for_one_owner_stop_at_the_limit() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let policy = TokenPolicy { max_active_tokens_per_owner: Some(2), ..TokenPolicy::default() };
    h.engine.set_token_policy(&h.admin, policy).await.unwrap();
    let attempts = (0..8).map(|n| {
        let token = NewToken {
            keyspace_id: ks.clone(),
            name: format!("racer {n}"),
            scopes: scopes(&["invoices:read"]),
            owner: Some("usr_alice".into()),
            ..NewToken::default()
        };
        h.engine.issue_token(&h.admin, token)
    });
    let results = futures::future::join_all(attempts).await;
    let issued = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(issued, 2, "the limit holds however the creations interleave");
    for result in results.iter().filter_map(|result| result.as_ref().err()) {
        match result {
            EngineError::PolicyViolation { violations } => assert_eq!(violations[0].code, "too_many_active_tokens"),
            other => panic!("expected the limit, got {other:?}"),
        }
    }
}
