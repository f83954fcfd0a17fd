//! Rotation and its grace period, judged with an injected clock at the exact
//! boundaries (t−1 s, t, t+1 s), on both stores: the embedded SQLite and a
//! real PostgreSQL (skipped loudly when absent, a failure under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::audit::AuditAction;
use keyward_core::id::TokenId;
use keyward_core::model::{ExpiryCause, RevokedReason};
use keyward_core::policy::TokenPolicy;
use keyward_engine::{EngineError, RotationRequest, VerifyCode, VerifyOptions};
use keyward_store::{AuditFilter, PageRequest};
use serde_json::json;

mod support;

use support::{harnesses, invalid_field, rejected_code};

#[tokio::test]
async fn both_tokens_verify_during_the_grace_and_the_old_one_expires_exactly_at_its_end() {
    for h in harnesses().await {
        let old = h.issue("deploys", None).await;
        h.clock.advance_secs(1);
        let t0 = h.engine.clock().now();
        let rotated = h.rotate(&old.record.id, 3600).await.unwrap();
        let new = rotated.issued.secret.expose();
        let grace_end = t0 + chrono::Duration::seconds(3600);
        assert_eq!(rotated.old.expires_at, Some(grace_end), "{}", h.name);
        assert_eq!(rotated.old.replaced_by(), Some(rotated.issued.record.id.as_str()));
        assert_eq!(rotated.issued.record.rotated_from.as_deref(), Some(old.record.id.as_str()));

        for (offset, old_code) in [(-1, VerifyCode::Valid), (0, VerifyCode::Expired), (1, VerifyCode::Expired)] {
            h.at(grace_end + chrono::Duration::seconds(offset));
            assert_eq!(h.code(old.secret.expose()).await, old_code, "{}: old token at grace end {offset:+} s", h.name);
            assert_eq!(h.code(new).await, VerifyCode::Valid, "{}: new token at grace end {offset:+} s", h.name);
        }
        // The verdict tells a rotated token from one that ran out.
        let cause = h
            .engine
            .verify_with(old.secret.expose(), &VerifyOptions::default(), |verdict| {
                verdict.token().map(|token| token.expiry_cause())
            })
            .await
            .unwrap();
        assert_eq!(cause, Some(ExpiryCause::RotationGraceEnded), "{}", h.name);
        assert_eq!(
            h.actions_on(&old.record.id).await,
            [AuditAction::TokenRotated, AuditAction::TokenCreated],
            "{}: the rotation is audited on the old token",
            h.name
        );
        assert_eq!(h.actions_on(&rotated.issued.record.id).await, [AuditAction::TokenCreated], "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn the_replacement_keeps_what_the_old_token_was_and_its_lifetime() {
    for h in harnesses().await {
        let old = h.issue("billing", Some(86_400)).await;
        h.clock.advance_secs(1000);
        let rotated = h.rotate(&old.record.id, 60).await.unwrap();
        let new = &rotated.issued.record;
        assert_eq!(
            (&new.name, &new.owner, &new.scopes, &new.metadata, &new.allowed_ips, &new.keyspace_id),
            (
                &old.record.name,
                &old.record.owner,
                &old.record.scopes,
                &old.record.metadata,
                &old.record.allowed_ips,
                &old.record.keyspace_id
            ),
            "{}",
            h.name
        );
        assert_ne!(rotated.issued.secret.expose(), old.secret.expose());
        let now = h.engine.clock().now();
        assert_eq!(
            new.expires_at,
            Some(now + chrono::Duration::seconds(86_400)),
            "{}: same lifetime, from now",
            h.name
        );
        // The old token's own expiry is kept, and the grace never outlives it.
        assert_eq!(rotated.old.expires_at_before_rotation(), old.record.expires_at, "{}", h.name);

        // An explicit lifetime for the replacement wins.
        let chosen = h
            .engine
            .rotate_token(
                &h.admin,
                &TokenId::parse(&new.id).unwrap(),
                RotationRequest { grace_period_seconds: 0, expires_in: Some(3600) },
            )
            .await
            .unwrap();
        assert_eq!(chosen.issued.record.expires_at, Some(now + chrono::Duration::seconds(3600)), "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_grace_period_of_zero_revokes_the_old_token_now_with_reason_rotation() {
    for h in harnesses().await {
        let old = h.issue("now", None).await;
        assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Valid, "cached before the rotation");
        let rotated = h.rotate(&old.record.id, 0).await.unwrap();
        assert_eq!(rotated.old.revoked_reason(), Some(RevokedReason::Rotation), "{}", h.name);
        assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Revoked, "{}: at once, cache or not", h.name);
        assert_eq!(h.code(rotated.issued.secret.expose()).await, VerifyCode::Valid, "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn what_cannot_be_rotated_is_refused_precisely_and_nothing_is_written() {
    for h in harnesses().await {
        let policy = TokenPolicy { max_rotation_grace_seconds: Some(7200), ..TokenPolicy::default() };
        h.engine.set_token_policy(&h.admin, policy).await.unwrap();
        let token = h.issue("limited", Some(600)).await;
        assert_eq!(invalid_field(h.rotate(&token.record.id, 7201).await), "grace_period", "{}", h.name);
        assert_eq!(invalid_field(h.rotate(&token.record.id, -1).await), "grace_period", "{}", h.name);
        assert!(matches!(h.rotate("tok_unknown000000000000000", 60).await, Err(EngineError::NotFound("token"))));
        assert_eq!(h.actions_on(&token.record.id).await, [AuditAction::TokenCreated], "{}: nothing half-done", h.name);

        // Expired at exactly its expiry: refused at t, allowed at t−1 s.
        let expiry = token.record.expires_at.unwrap();
        h.at(expiry);
        assert_eq!(rejected_code(h.rotate(&token.record.id, 60).await), "token_expired", "{}", h.name);
        h.at(expiry - chrono::Duration::seconds(1));
        let rotated = h.rotate(&token.record.id, 7200).await.unwrap();
        assert_eq!(rotated.old.expires_at, Some(expiry), "{}: the grace never outlives the token", h.name);
        assert_eq!(rejected_code(h.rotate(&token.record.id, 60).await), "token_already_rotated", "{}", h.name);

        let revoked = h.issue("revoked", None).await;
        h.engine
            .revoke_token(&h.admin, &TokenId::parse(&revoked.record.id).unwrap(), RevokedReason::Leaked)
            .await
            .unwrap();
        assert_eq!(rejected_code(h.rotate(&revoked.record.id, 60).await), "token_revoked", "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn the_grace_is_extended_or_ended_early_within_its_limits() {
    for h in harnesses().await {
        let policy = TokenPolicy { max_rotation_grace_seconds: Some(7200), ..TokenPolicy::default() };
        h.engine.set_token_policy(&h.admin, policy).await.unwrap();
        let plain = h.issue("never rotated", None).await;
        let grace = |id: String, seconds: i64| {
            let engine = h.engine.clone();
            let admin = h.admin.clone();
            async move { engine.set_rotation_grace(&admin, &TokenId::parse(&id).unwrap(), seconds).await }
        };
        assert_eq!(rejected_code(grace(plain.record.id.clone(), 60).await), "not_in_rotation_grace", "{}", h.name);

        let old = h.issue("deploys", None).await;
        h.clock.advance_secs(1);
        h.rotate(&old.record.id, 600).await.unwrap();
        assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Valid, "cached while in grace");
        h.clock.advance_secs(300);
        assert_eq!(invalid_field(grace(old.record.id.clone(), 7201).await), "ends_in", "{}", h.name);
        let extended = grace(old.record.id.clone(), 7200).await.unwrap();
        let now = h.engine.clock().now();
        assert_eq!(extended.expires_at, Some(now + chrono::Duration::seconds(7200)), "{}", h.name);
        h.clock.advance_secs(3600);
        assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Valid, "{}: past the first grace end", h.name);

        // Ended early: expired at once, even though it was cached.
        let ended = grace(old.record.id.clone(), 0).await.unwrap();
        assert_eq!(ended.expires_at, Some(h.engine.clock().now()), "{}", h.name);
        assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Expired, "{}", h.name);
        assert_eq!(rejected_code(grace(old.record.id.clone(), 60).await), "token_expired", "{}", h.name);
        assert_eq!(
            h.actions_on(&old.record.id).await,
            [
                AuditAction::TokenGraceChanged,
                AuditAction::TokenGraceChanged,
                AuditAction::TokenRotated,
                AuditAction::TokenCreated
            ],
            "{}",
            h.name
        );
        h.cleanup().await;
    }
}

#[tokio::test]
async fn clients_in_grace_are_listed_and_reuse_after_it_is_a_security_event_once_an_hour() {
    for h in harnesses().await {
        let old = h.issue("watched", None).await;
        let rotated = h.rotate(&old.record.id, 600).await.unwrap();
        let from = |ip: [u8; 4], agent: &'static str| VerifyOptions {
            client_ip: Some(ip.into()),
            user_agent: Some(agent),
            ..VerifyOptions::default()
        };
        for (ip, agent) in
            [([203, 0, 113, 5], "billing/1.0"), ([203, 0, 113, 5], "billing/1.0"), ([203, 0, 113, 9], "cron")]
        {
            let options = from(ip, agent);
            assert!(h.engine.verify_with(old.secret.expose(), &options, |v| v.is_valid()).await.unwrap());
        }
        // The replacement's own clients are not the old token's.
        h.engine.verify_with(rotated.issued.secret.expose(), &from([203, 0, 113, 7], "new"), |_| ()).await.unwrap();
        h.engine.flush_usage().await.unwrap();
        let clients = h.engine.token_clients(&h.admin, &TokenId::parse(&old.record.id).unwrap()).await.unwrap();
        let mut seen: Vec<_> =
            clients.iter().map(|c| (c.client_ip.clone().unwrap(), c.user_agent.clone().unwrap(), c.uses)).collect();
        seen.sort();
        assert_eq!(
            seen,
            [("203.0.113.5".into(), "billing/1.0".into(), 2), ("203.0.113.9".into(), "cron".into(), 1)],
            "{}",
            h.name
        );
        assert!(
            h.engine
                .token_clients(&h.admin, &TokenId::parse(&rotated.issued.record.id).unwrap())
                .await
                .unwrap()
                .is_empty(),
            "{}",
            h.name
        );

        // After the grace: each presentation is noted, reported once an hour.
        h.clock.advance_secs(600);
        for _ in 0..3 {
            assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Expired);
        }
        h.engine.flush_usage().await.unwrap();
        h.clock.advance_secs(60);
        assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Expired);
        h.engine.flush_usage().await.unwrap();
        let reuse =
            AuditFilter { action: Some(AuditAction::TokenReusedAfterRotation.to_string()), ..AuditFilter::default() };
        let events = h.engine.list_audit(&h.admin, &reuse, &PageRequest::first()).await.unwrap().items;
        assert_eq!(events.len(), 1, "{}: one report within the hour", h.name);
        assert_eq!(events[0].target_id, old.record.id);
        assert_eq!(events[0].details["attempts"], 3, "{}", h.name);
        assert_eq!(events[0].source_ip.as_deref(), Some("203.0.113.5"), "{}", h.name);
        assert_eq!(events[0].details["replaced_by"], json!(rotated.issued.record.id), "{}", h.name);

        h.clock.advance_secs(3600);
        assert_eq!(h.code(old.secret.expose()).await, VerifyCode::Expired);
        h.engine.flush_usage().await.unwrap();
        let events = h.engine.list_audit(&h.admin, &reuse, &PageRequest::first()).await.unwrap().items;
        assert_eq!(events.len(), 2, "{}: reported again an hour later", h.name);
        // A token that simply ran out is no security event.
        let ran_out = h.issue("ran out", Some(10)).await;
        h.clock.advance_secs(11);
        assert_eq!(h.code(ran_out.secret.expose()).await, VerifyCode::Expired);
        h.engine.flush_usage().await.unwrap();
        assert!(h.actions_on(&ran_out.record.id).await.iter().all(|&a| a != AuditAction::TokenReusedAfterRotation));
        h.cleanup().await;
    }
}
