//! The lifecycle scheduler through the engine, on both stores and a manual
//! clock: every warning, expiry, inactivity disabling and rotation notice
//! lands at its exact instant (nothing at t−1 s, once at t, nothing new at
//! t+1 s), and a pass repeated announces nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use chrono::{DateTime, Duration, Utc};
use keyward_core::audit::AuditAction;
use keyward_core::id::{KeyspaceId, TokenId};
use keyward_core::model::DisabledReason;
use keyward_core::policy::TokenPolicy;
use keyward_engine::{EngineConfig, LifecycleReport, TokenChanges, VerifyCode};
use keyward_store::{AuditFilter, PageRequest};
use support::{harnesses, harnesses_with, Harness};

const DAY: i64 = 86_400;

async fn pass_at(h: &Harness, instant: DateTime<Utc>) -> LifecycleReport {
    h.at(instant);
    let report = h.engine.run_lifecycle().await.unwrap();
    let again = h.engine.run_lifecycle().await.unwrap();
    assert_eq!(again, LifecycleReport::default(), "{}: a second pass at {instant} announces nothing", h.name);
    report
}

fn noticed(notices: u64) -> LifecycleReport {
    LifecycleReport { notices, ..LifecycleReport::default() }
}

async fn details_of(h: &Harness, id: &str, action: AuditAction) -> Vec<serde_json::Value> {
    let filter = AuditFilter { target_id: Some(id.into()), action: Some(action.to_string()), ..AuditFilter::default() };
    let page = h.engine.list_audit(&h.admin, &filter, &PageRequest::new(Some(50), None)).await.unwrap();
    page.items.into_iter().rev().map(|event| event.details).collect()
}

async fn set_policy(h: &Harness, policy: TokenPolicy) {
    h.engine.set_token_policy(&h.admin, policy).await.unwrap();
}

#[tokio::test]
async fn expiry_warnings_and_the_expiry_are_announced_once_at_their_instants() {
    for h in harnesses().await {
        let t0 = h.engine.clock().now();
        let issued = h.issue("quarterly report", Some(10 * DAY)).await;
        let id = &issued.record.id;
        let expires = t0 + Duration::days(10);
        let second = Duration::seconds(1);

        for (instant, expected) in [
            (expires - Duration::days(7) - second, 0),
            (expires - Duration::days(7), 1),
            (expires - Duration::days(7) + second, 0),
            (expires - Duration::days(1) - second, 0),
            (expires - Duration::days(1), 1),
            (expires - Duration::days(1) + second, 0),
            (expires - second, 0),
        ] {
            assert_eq!(pass_at(&h, instant).await, noticed(expected), "{}: at {instant}", h.name);
        }
        assert_eq!(h.code(issued.secret.expose()).await, VerifyCode::Valid, "{}", h.name);
        assert_eq!(pass_at(&h, expires).await, noticed(1), "{}: the expiry itself", h.name);
        assert_eq!(h.code(issued.secret.expose()).await, VerifyCode::Expired, "{}", h.name);
        assert_eq!(pass_at(&h, expires + second).await, noticed(0), "{}", h.name);
        assert_eq!(pass_at(&h, expires + Duration::days(30)).await, noticed(0), "{}: announced once", h.name);

        let warnings = details_of(&h, id, AuditAction::TokenExpiring).await;
        let days: Vec<_> = warnings.iter().map(|d| d["days_before"].as_u64().unwrap()).collect();
        assert_eq!(days, [7, 1], "{}", h.name);
        assert_eq!(warnings[0]["name"], "quarterly report", "{}", h.name);
        assert!(warnings[0].get("token").is_none(), "{}: no secret in any notice", h.name);
        let expired = details_of(&h, id, AuditAction::TokenExpired).await;
        assert_eq!(expired.len(), 1, "{}", h.name);
        assert_eq!(expired[0]["expires_at"], serde_json::json!(expires), "{}", h.name);

        // Policy warning days are configurable; none at all is allowed.
        set_policy(&h, TokenPolicy { warning_days: Some(vec![]), ..TokenPolicy::default() }).await;
        let quiet = h.issue("quiet", Some(3 * DAY)).await;
        let now = h.engine.clock().now();
        assert_eq!(pass_at(&h, now + Duration::days(3) - second).await, noticed(0), "{}", h.name);
        assert_eq!(pass_at(&h, now + Duration::days(3)).await, noticed(1), "{}: only the expiry", h.name);
        assert_eq!(details_of(&h, &quiet.record.id, AuditAction::TokenExpired).await.len(), 1, "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn tokens_left_unused_are_warned_then_disabled_and_a_use_or_enabling_restarts_the_count() {
    for h in harnesses().await {
        let t0 = h.engine.clock().now();
        let policy = TokenPolicy {
            disable_after_inactive_days: Some(30),
            warning_days: Some(vec![7]),
            ..TokenPolicy::default()
        };
        set_policy(&h, policy).await;
        let issued = h.issue("nightly export", None).await;
        let (id, secret) = (&issued.record.id, issued.secret.expose());
        let second = Duration::seconds(1);

        // Used on day 10 (the pass flushes the use first): silence counts from there.
        h.at(t0 + Duration::days(10));
        assert_eq!(h.code(secret).await, VerifyCode::Valid, "{}", h.name);
        let disables = t0 + Duration::days(40);
        for (instant, expected) in [
            (disables - Duration::days(7) - second, LifecycleReport::default()),
            (disables - Duration::days(7), noticed(1)),
            (disables - second, LifecycleReport::default()),
        ] {
            assert_eq!(pass_at(&h, instant).await, expected, "{}: at {instant}", h.name);
        }
        assert_eq!(
            pass_at(&h, disables).await,
            LifecycleReport { disabled: 1, ..LifecycleReport::default() },
            "{}: disabled at the exact instant",
            h.name
        );
        assert_eq!(h.code(secret).await, VerifyCode::Disabled, "{}: on the very next verify", h.name);
        let token = h.engine.get_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        assert_eq!(token.disabled_reason(), Some(DisabledReason::Inactivity), "{}", h.name);
        assert_eq!(token.disabled_at(), Some(disables), "{}", h.name);
        assert_eq!(pass_at(&h, disables + second).await, LifecycleReport::default(), "{}", h.name);
        let warning = details_of(&h, id, AuditAction::TokenInactivityWarning).await;
        assert_eq!(warning.len(), 1, "{}", h.name);
        assert_eq!(warning[0]["disables_at"], serde_json::json!(disables), "{}", h.name);
        let disabled = details_of(&h, id, AuditAction::TokenDisabledInactive).await;
        assert_eq!(disabled[0]["last_activity_at"], serde_json::json!(t0 + Duration::days(10)), "{}", h.name);

        // Enabled on day 41: not disabled again for the silence that disabled it.
        h.at(t0 + Duration::days(41));
        h.engine.enable_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        let again = t0 + Duration::days(71);
        assert_eq!(pass_at(&h, again - Duration::days(7)).await, noticed(1), "{}: warned afresh", h.name);
        assert_eq!(pass_at(&h, again - second).await, LifecycleReport::default(), "{}", h.name);
        assert_eq!(pass_at(&h, again).await.disabled, 1, "{}", h.name);

        // The bootstrap admin token, silent all along, is never disabled.
        assert_eq!(
            h.engine.get_token(&h.admin, &TokenId::parse(h.admin.principal.id()).unwrap()).await.unwrap().disabled_at(),
            None
        );
        h.cleanup().await;
    }
}

#[tokio::test]
async fn rotation_falls_due_after_the_tokens_own_period_or_the_policys_and_a_rotation_restarts_it() {
    for h in harnesses().await {
        let t0 = h.engine.clock().now();
        set_policy(&h, TokenPolicy { rotation_period_days: Some(30), ..TokenPolicy::default() }).await;
        let own = h.issue("deploy bot", None).await;
        let changes = TokenChanges { rotation_period_days: Some(Some(10)), ..TokenChanges::default() };
        h.engine.update_token(&h.admin, &TokenId::parse(&own.record.id).unwrap(), changes).await.unwrap();
        let inherits = h.issue("reporting", None).await;
        let second = Duration::seconds(1);

        assert_eq!(pass_at(&h, t0 + Duration::days(10) - second).await, noticed(0), "{}", h.name);
        assert_eq!(pass_at(&h, t0 + Duration::days(10)).await, noticed(1), "{}: its own period", h.name);
        assert_eq!(pass_at(&h, t0 + Duration::days(10) + second).await, noticed(0), "{}", h.name);
        let due = details_of(&h, &own.record.id, AuditAction::TokenRotationDue).await;
        assert_eq!(due[0]["rotation_period_days"], 10, "{}", h.name);
        assert_eq!(due[0]["due_at"], serde_json::json!(t0 + Duration::days(10)), "{}", h.name);

        // Rotated on day 12: the replacement keeps the period and starts a new count.
        h.at(t0 + Duration::days(12));
        let rotated = h.rotate(&own.record.id, 0).await.unwrap();
        assert_eq!(rotated.issued.record.rotation_period_days, Some(10), "{}", h.name);
        let replacement = &rotated.issued.record.id;
        assert_eq!(pass_at(&h, t0 + Duration::days(22) - second).await, noticed(0), "{}", h.name);
        assert_eq!(pass_at(&h, t0 + Duration::days(22)).await, noticed(1), "{}", h.name);
        assert_eq!(details_of(&h, replacement, AuditAction::TokenRotationDue).await.len(), 1, "{}", h.name);

        // Day 30: the policy's period catches the other token and the admin token.
        assert_eq!(pass_at(&h, t0 + Duration::days(30) - second).await, noticed(0), "{}", h.name);
        assert_eq!(pass_at(&h, t0 + Duration::days(30)).await, noticed(2), "{}", h.name);
        assert_eq!(details_of(&h, &inherits.record.id, AuditAction::TokenRotationDue).await.len(), 1, "{}", h.name);
        assert_eq!(details_of(&h, &own.record.id, AuditAction::TokenRotationDue).await.len(), 1, "{}: once", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn an_expiry_leeway_keeps_a_token_valid_exactly_that_long_and_never_softens_a_revocation() {
    let config = EngineConfig { expiry_leeway: std::time::Duration::from_secs(30), ..EngineConfig::default() };
    for h in harnesses_with(config).await {
        let t0 = h.engine.clock().now();
        let issued = h.issue("skewed", Some(60)).await;
        let secret = issued.secret.expose();
        let expires = t0 + Duration::seconds(60);
        for (instant, expected) in [
            (expires - Duration::seconds(1), VerifyCode::Valid),
            (expires, VerifyCode::Valid),
            (expires + Duration::seconds(29), VerifyCode::Valid),
            (expires + Duration::seconds(30), VerifyCode::Expired),
            (expires + Duration::seconds(31), VerifyCode::Expired),
        ] {
            h.at(instant);
            assert_eq!(h.code(secret).await, expected, "{}: at {instant}", h.name);
        }
        let revoked = h.issue("revoked", Some(3600)).await;
        h.engine
            .revoke_token(
                &h.admin,
                &TokenId::parse(&revoked.record.id).unwrap(),
                keyward_core::model::RevokedReason::Leaked,
            )
            .await
            .unwrap();
        assert_eq!(h.code(revoked.secret.expose()).await, VerifyCode::Revoked, "{}: no leeway", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_keyspace_sets_its_own_rotation_period_and_inactivity_rule_over_the_organizations() {
    for h in harnesses().await {
        let t0 = h.engine.clock().now();
        let policy =
            TokenPolicy { rotation_period_days: Some(30), warning_days: Some(vec![]), ..TokenPolicy::default() };
        set_policy(&h, policy).await;
        for (rotation, inactive, field) in
            [(Some(0), None, "rotation_period_days"), (None, Some(3651), "disable_after_inactive_days")]
        {
            match h
                .engine
                .set_keyspace_lifecycle(&h.admin, &KeyspaceId::parse(&h.keyspace_id).unwrap(), rotation, inactive)
                .await
            {
                Err(keyward_engine::EngineError::Invalid(invalid)) => assert_eq!(invalid.field, field, "{}", h.name),
                other => panic!("{}: expected a 400 on {field}, got {other:?}", h.name),
            }
        }
        let keyspace = h
            .engine
            .set_keyspace_lifecycle(&h.admin, &KeyspaceId::parse(&h.keyspace_id).unwrap(), Some(5), Some(8))
            .await
            .unwrap();
        assert_eq!((keyspace.rotation_period_days, keyspace.disable_after_inactive_days), (Some(5), Some(8)));
        let other = keyward_engine::NewKeyspace {
            name: "reports".into(),
            environment: keyward_core::Environment::Test,
            prefix: None,
            default_ttl_seconds: None,
            scope_catalog: None,
            rotation_period_days: None,
            disable_after_inactive_days: None,
        };
        let other = h.engine.create_keyspace(&h.admin, other).await.unwrap();

        let bound = h.issue("bound to the keyspace", None).await;
        let own = h.issue("its own period", None).await;
        let changes = TokenChanges { rotation_period_days: Some(Some(2)), ..TokenChanges::default() };
        h.engine.update_token(&h.admin, &TokenId::parse(&own.record.id).unwrap(), changes).await.unwrap();
        let elsewhere = keyward_engine::NewToken {
            keyspace_id: other.id.clone(),
            name: "elsewhere".into(),
            ..keyward_engine::NewToken::default()
        };
        let elsewhere = h.engine.issue_token(&h.admin, elsewhere).await.unwrap();
        let second = Duration::seconds(1);

        // The token's own period beats the keyspace's, which beats the policy's.
        assert_eq!(pass_at(&h, t0 + Duration::days(2) - second).await, noticed(0), "{}", h.name);
        assert_eq!(pass_at(&h, t0 + Duration::days(2)).await, noticed(1), "{}: its own 2 days", h.name);
        assert_eq!(pass_at(&h, t0 + Duration::days(5) - second).await, noticed(0), "{}", h.name);
        assert_eq!(pass_at(&h, t0 + Duration::days(5)).await, noticed(1), "{}: the keyspace's 5 days", h.name);
        assert_eq!(details_of(&h, &bound.record.id, AuditAction::TokenRotationDue).await[0]["rotation_period_days"], 5);
        // The keyspace's inactivity rule disables its tokens, not the other keyspace's.
        assert_eq!(pass_at(&h, t0 + Duration::days(8) - second).await, noticed(0), "{}", h.name);
        let disabled = LifecycleReport { disabled: 2, ..LifecycleReport::default() };
        assert_eq!(pass_at(&h, t0 + Duration::days(8)).await, disabled, "{}: day 8", h.name);
        assert_eq!(h.code(own.secret.expose()).await, VerifyCode::Disabled, "{}", h.name);
        let still = h.engine.verify_with(elsewhere.secret.expose(), &Default::default(), |v| v.code).await.unwrap();
        assert_eq!(still, VerifyCode::Valid, "{}: no rule in its keyspace or the policy", h.name);
        // Day 30: the policy's period for the other keyspace and the admin token.
        assert_eq!(pass_at(&h, t0 + Duration::days(30)).await, noticed(2), "{}", h.name);
        assert_eq!(details_of(&h, &elsewhere.record.id, AuditAction::TokenRotationDue).await.len(), 1, "{}", h.name);
        h.cleanup().await;
    }
}
