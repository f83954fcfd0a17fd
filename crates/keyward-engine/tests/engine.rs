//! Engine behaviour over a real SQLite store, with time and randomness
//! injected: issuing, verifying, changing and revoking tokens, and the
//! audit trail they leave. Organizations, catalogs and policies are in
//! `organizations.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sqlite_harness;

use keyward_core::id::TokenId;
use std::sync::Arc;

use chrono::Utc;
use keyward_core::model::RevokedReason;
use keyward_core::scope::management;
use keyward_core::{Environment, ManualClock, SeededRng};
use keyward_engine::{
    Actor, Engine, EngineConfig, EngineError, NewKeyspace, NewToken, RequestContext, TokenChanges, VerifyCode,
    VerifyOptions,
};
use keyward_store::{AuditFilter, PageRequest, Store, TokenFilter};
use keyward_store_sqlite::SqliteStore;
use serde_json::json;
use sqlite_harness::{harness, keyspace, scopes, Harness};

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
    let revoked = h
        .engine
        .revoke_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap(), RevokedReason::UserAction)
        .await
        .unwrap();
    assert!(revoked.revoked_at().is_some());
    assert_eq!(h.engine.verify(&secret, &[]).await.unwrap().code, VerifyCode::Revoked);
    // Idempotent: a second revoke succeeds and keeps the first time.
    let again = h
        .engine
        .revoke_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap(), RevokedReason::UserAction)
        .await
        .unwrap();
    assert_eq!(again.revoked_at(), revoked.revoked_at());
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
        h.engine
            .revoke_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap(), RevokedReason::UserAction)
            .await
            .unwrap();
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
            &TokenId::parse(&issued.record.id).unwrap(),
            TokenChanges { name: Some("new".into()), metadata: Some(json!({"v": 2})), ..TokenChanges::default() },
        )
        .await
        .unwrap();
    let verdict = h.engine.verify(issued.secret.expose(), &[]).await.unwrap();
    let seen = verdict.token().unwrap();
    assert_eq!((seen.name.as_str(), &seen.metadata), ("new", &json!({"v": 2})));
    let empty =
        h.engine.update_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap(), TokenChanges::default()).await;
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
    let before = h.engine.get_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap()).await.unwrap();
    assert_eq!(before.usage.use_count, 0, "no synchronous write per verification");
    h.engine.flush_usage().await.unwrap();
    let after = h.engine.get_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap()).await.unwrap();
    assert_eq!(after.usage.use_count, 5);
    assert_eq!(after.usage.last_used_at, Some(h.clock.now_plus(0)));
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
        .update_token(
            &h.admin,
            &TokenId::parse(&issued.record.id).unwrap(),
            TokenChanges { name: Some("b".into()), ..TokenChanges::default() },
        )
        .await
        .unwrap();
    h.clock.advance_secs(1);
    h.engine
        .revoke_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap(), RevokedReason::UserAction)
        .await
        .unwrap();
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
    h.engine.update_token(&h.admin, &TokenId::parse(&issued.record.id).unwrap(), changes).await.unwrap();
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
                // Names are unique per organization; the live one is "payments".
                name: "payments (test)".into(),
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
    h.engine.update_token(&h.admin, &TokenId::parse(&id).unwrap(), narrow).await.unwrap();
    h.clock.advance_secs(1);
    assert_eq!(h.engine.verify(secret, &scopes(&["invoices:read"])).await.unwrap().code, VerifyCode::InsufficientScope);
    assert!(h.engine.verify(secret, &scopes(&["invoices:read@project/1"])).await.unwrap().is_valid());

    let widen = TokenChanges { scopes: Some(scopes(&["invoices:read", "refunds:read"])), ..TokenChanges::default() };
    match h.engine.update_token(&h.admin, &TokenId::parse(&id).unwrap(), widen.clone()).await {
        Err(EngineError::ConfirmationRequired { broader }) => {
            assert_eq!(broader, scopes(&["invoices:read", "refunds:read"]))
        }
        other => panic!("expected a confirmation request, got {other:?}"),
    }
    assert_eq!(h.engine.verify(secret, &scopes(&["refunds:read"])).await.unwrap().code, VerifyCode::InsufficientScope);

    let confirmed = TokenChanges { confirm_broader_scopes: true, ..widen };
    h.engine.update_token(&h.admin, &TokenId::parse(&id).unwrap(), confirmed).await.unwrap();
    assert!(h.engine.verify(secret, &scopes(&["refunds:read"])).await.unwrap().is_valid());

    let outside = TokenChanges {
        scopes: Some(scopes(&["users:delete"])),
        confirm_broader_scopes: true,
        ..TokenChanges::default()
    };
    assert!(matches!(
        h.engine.update_token(&h.admin, &TokenId::parse(&id).unwrap(), outside).await,
        Err(EngineError::Invalid(_))
    ));

    let filter = AuditFilter { action: Some("token.updated".into()), ..AuditFilter::default() };
    let events = h.engine.list_audit(&h.admin, &filter, &PageRequest::first()).await.unwrap().items;
    let widened = &events[0].details;
    assert_eq!(widened["scopes_before"], json!(["invoices:read@project/1"]));
    assert_eq!(widened["scopes_after"], json!(["invoices:read", "refunds:read"]));
    assert_eq!(widened["broadened"], json!(true));
    assert_eq!(events[1].details["broadened"], json!(false));
}
