//! Disabling, enabling and deleting tokens through the engine, on both
//! stores: verdicts change on the very next verify, revocation stays final,
//! and a deleted token leaves its audit trail behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyward_core::audit::AuditAction;
use keyward_core::id::TokenId;
use keyward_core::model::{DisabledReason, RevokedReason, TokenState};
use keyward_engine::{EngineError, VerifyCode};
use support::{harnesses, rejected_code};

#[tokio::test]
async fn a_disabled_token_answers_disabled_until_enabled_and_a_revoked_one_stays_revoked() {
    for h in harnesses().await {
        let issued = h.issue("nightly export", None).await;
        let secret = issued.secret.expose();
        let id = &issued.record.id;
        assert_eq!(h.code(secret).await, VerifyCode::Valid, "{}: cached as valid first", h.name);

        h.clock.advance_secs(5);
        let disabled = h.engine.disable_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        assert_eq!(disabled.disabled_reason(), Some(DisabledReason::UserAction), "{}", h.name);
        assert_eq!(h.code(secret).await, VerifyCode::Disabled, "{}: effective on the very next verify", h.name);
        let again = h.engine.disable_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        assert_eq!(again.disabled_at(), disabled.disabled_at(), "{}: idempotent", h.name);

        // Rotation needs an enabled token: rotating would hand out a working copy.
        let rotation = h.rotate(id, 60).await;
        assert_eq!(rejected_code(rotation), "token_disabled", "{}", h.name);

        h.clock.advance_secs(5);
        let enabled = h.engine.enable_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        assert_eq!(enabled.enabled_at, Some(h.engine.clock().now()), "{}", h.name);
        assert_eq!(h.code(secret).await, VerifyCode::Valid, "{}", h.name);

        h.clock.advance_secs(1);
        h.engine.disable_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        h.clock.advance_secs(1);
        h.engine.revoke_token(&h.admin, &TokenId::parse(id).unwrap(), RevokedReason::Leaked).await.unwrap();
        assert_eq!(h.code(secret).await, VerifyCode::Revoked, "{}: revocation wins over disabling", h.name);
        assert_eq!(
            rejected_code(h.engine.enable_token(&h.admin, &TokenId::parse(id).unwrap()).await),
            "token_revoked",
            "{}",
            h.name
        );
        assert_eq!(
            rejected_code(h.engine.disable_token(&h.admin, &TokenId::parse(id).unwrap()).await),
            "token_revoked",
            "{}",
            h.name
        );
        assert_eq!(
            h.actions_on(id).await,
            [
                AuditAction::TokenRevoked,
                AuditAction::TokenDisabled,
                AuditAction::TokenEnabled,
                AuditAction::TokenDisabled,
                AuditAction::TokenCreated
            ],
            "{}: one event per change, none for repeats or refusals",
            h.name
        );
        h.cleanup().await;
    }
}

#[tokio::test]
async fn enabling_does_not_revive_an_expired_token() {
    for h in harnesses().await {
        let issued = h.issue("short", Some(60)).await;
        let id = &issued.record.id;
        let expiry = issued.record.expires_at.unwrap();
        h.engine.disable_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        h.at(expiry);
        assert_eq!(h.code(issued.secret.expose()).await, VerifyCode::Disabled, "{}: disabled wins", h.name);
        let enabled = h.engine.enable_token(&h.admin, &TokenId::parse(id).unwrap()).await.unwrap();
        assert_eq!(enabled.state_at(expiry.timestamp_micros()), TokenState::Expired, "{}", h.name);
        assert_eq!(h.code(issued.secret.expose()).await, VerifyCode::Expired, "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_deleted_token_is_gone_at_once_and_its_history_stays() {
    for h in harnesses().await {
        let issued = h.issue("legacy", None).await;
        let secret = issued.secret.expose();
        let id = issued.record.id.clone();
        assert_eq!(h.code(secret).await, VerifyCode::Valid, "{}", h.name);

        h.clock.advance_secs(1);
        let deleted = h.engine.delete_token(&h.admin, &TokenId::parse(&id).unwrap()).await.unwrap();
        assert_eq!(deleted.id, id);
        assert_eq!(h.code(secret).await, VerifyCode::NotFound, "{}: the cached copy went too", h.name);
        assert!(
            matches!(
                h.engine.get_token(&h.admin, &TokenId::parse(&id).unwrap()).await,
                Err(EngineError::NotFound("token"))
            ),
            "{}",
            h.name
        );
        assert!(matches!(
            h.engine.delete_token(&h.admin, &TokenId::parse(&id).unwrap()).await,
            Err(EngineError::NotFound("token"))
        ));
        assert!(matches!(
            h.engine.enable_token(&h.admin, &TokenId::parse(&id).unwrap()).await,
            Err(EngineError::NotFound("token"))
        ));
        assert_eq!(h.actions_on(&id).await, [AuditAction::TokenDeleted, AuditAction::TokenCreated], "{}", h.name);
        h.cleanup().await;
    }
}
