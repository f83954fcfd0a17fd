//! Bursts of unknown tokens: counted in memory per verifying caller (or,
//! for bearer tokens the management API was shown, for the operator) and
//! source, and one audit event (and one webhook delivery) per minute at or
//! over the threshold, whatever the number of tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use chrono::TimeZone;
use keyward_core::audit::AuditAction;
use keyward_core::id::WebhookId;
use keyward_core::webhook::MasterKey;
use keyward_core::SeededRng;
use keyward_engine::{EngineConfig, NewWebhook, VerifyOptions};
use keyward_store::{AuditFilter, PageRequest};
use support::{harnesses_with, Harness};

/// A well-formed token (so it reaches the lookup) that nobody issued.
fn unknown_token(n: usize) -> String {
    let prefix = keyward_core::TokenPrefix::new("kw").unwrap();
    let rng = SeededRng::new(1_000_000 + n as u64);
    keyward_core::token::generate(&prefix, keyward_core::Environment::Live, &rng).unwrap().expose().to_owned()
}

async fn present(h: &Harness, caller: &str, from: [u8; 4], count: usize) {
    let options = VerifyOptions {
        client_ip: Some(from.into()),
        org_id: Some(h.admin.org_id()),
        caller: Some(caller),
        ..VerifyOptions::default()
    };
    for n in 0..count {
        let code = h.engine.verify_with(&unknown_token(n), &options, |verdict| verdict.code).await.unwrap();
        assert_eq!(code, keyward_engine::VerifyCode::NotFound);
    }
}

async fn spraying_events(h: &Harness) -> Vec<keyward_core::model::AuditEvent> {
    let filter = AuditFilter { action: Some(AuditAction::TokenSpraying.to_string()), ..AuditFilter::default() };
    h.engine.list_audit(&h.admin, &filter, &PageRequest::new(Some(100), None)).await.unwrap().items
}

#[tokio::test]
async fn fifteen_hundred_unknown_tokens_in_a_minute_are_one_event_and_one_webhook_while_ten_are_none() {
    let master_key = MasterKey::generate(&SeededRng::new(11)).unwrap().0;
    let config = EngineConfig { master_key: Some(master_key), ..EngineConfig::default() };
    for h in harnesses_with(config).await {
        let hook = NewWebhook {
            url: "https://hooks.example.com/keyward".into(),
            description: None,
            event_types: vec![AuditAction::TokenSpraying.to_string()],
        };
        let endpoint = h.engine.create_webhook(&h.admin, hook).await.unwrap().endpoint;
        // Start on a minute boundary so every presentation falls in one minute.
        h.at(chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 10, 0).unwrap());
        let caller = h.admin.principal.id().to_owned();
        present(&h, &caller, [203, 0, 113, 9], 1500).await;
        present(&h, &caller, [198, 51, 100, 7], 10).await;
        h.clock.advance_secs(59);
        h.engine.flush_usage().await.unwrap();
        assert!(spraying_events(&h).await.is_empty(), "{}: nothing before the minute ends", h.name);

        h.clock.advance_secs(1);
        h.engine.flush_usage().await.unwrap();
        h.engine.flush_usage().await.unwrap();
        let events = spraying_events(&h).await;
        assert_eq!(events.len(), 1, "{}: one event for 1,500, none for 10: {events:?}", h.name);
        let event = &events[0];
        assert_eq!(event.actor, caller);
        assert_eq!(event.source_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(event.target_id, "203.0.113.9");
        assert_eq!(event.details["unknown_tokens"], 1500);
        assert_eq!(event.details["summary"], "1,500 unknown tokens presented from 203.0.113.9 in 60 s");
        assert_eq!(event.details["window_start"], "2030-01-01T00:10:00Z");
        assert_eq!(event.details["window_end"], "2030-01-01T00:11:00Z");
        assert_eq!(event.details["threshold"], 100);

        let deliveries = h
            .engine
            .list_deliveries(&h.admin, &WebhookId::parse(&endpoint.id).unwrap(), &PageRequest::new(Some(100), None))
            .await
            .unwrap()
            .items;
        let sprays: Vec<_> =
            deliveries.iter().filter(|d| d.event_type == AuditAction::TokenSpraying.as_str()).collect();
        assert_eq!(sprays.len(), 1, "{}: one delivery", h.name);
        assert_eq!(sprays[0].event_id, event.id);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn verifications_without_a_caller_are_not_counted_and_zero_turns_the_record_off() {
    let off = EngineConfig { token_spraying_threshold: 0, ..EngineConfig::default() };
    for h in harnesses_with(off).await {
        h.at(chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 10, 0).unwrap());
        let caller = h.admin.principal.id().to_owned();
        present(&h, &caller, [203, 0, 113, 9], 200).await;
        h.clock.advance_secs(60);
        h.engine.flush_usage().await.unwrap();
        assert!(spraying_events(&h).await.is_empty(), "{}", h.name);
        h.cleanup().await;
    }
    for h in harnesses_with(EngineConfig::default()).await {
        h.at(chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 10, 0).unwrap());
        // The embedding form without a caller: nobody to report to.
        let options = VerifyOptions { client_ip: Some([203, 0, 113, 9].into()), ..VerifyOptions::default() };
        for n in 0..200 {
            h.engine.verify_with(&unknown_token(n), &options, |verdict| verdict.code).await.unwrap();
        }
        // Malformed presentations count like unknown ones.
        let caller = h.admin.principal.id().to_owned();
        let counted = VerifyOptions {
            client_ip: Some([192, 0, 2, 1].into()),
            org_id: Some(h.admin.org_id()),
            caller: Some(&caller),
            ..VerifyOptions::default()
        };
        for _ in 0..100 {
            h.engine.verify_with("not a token at all", &counted, |verdict| verdict.code).await.unwrap();
        }
        h.clock.advance_secs(60);
        h.engine.flush_usage().await.unwrap();
        let events = spraying_events(&h).await;
        assert_eq!(events.len(), 1, "{}: {events:?}", h.name);
        assert_eq!(events[0].source_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(events[0].details["unknown_tokens"], 100, "the threshold is reached, not passed");
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_session_presented_after_its_end_is_logged_as_expired_once() {
    let config = EngineConfig { open_signup: true, ..EngineConfig::default() };
    for h in harnesses_with(config).await {
        let context = keyward_engine::RequestContext {
            source_ip: Some([198, 51, 100, 4].into()),
            user_agent: Some("Browser/1".into()),
            ..Default::default()
        };
        let session = h.engine.sign_up("ada@example.com", "correct horse battery", "Ada's", &context).await.unwrap();
        let secret = session.secret.expose().to_owned();
        let org = session.signed_in.org_id.clone();
        assert!(h.engine.authenticate_session(&secret).await.unwrap().is_some());
        h.clock.advance_secs(12 * 3600);
        assert!(h.engine.authenticate_session(&secret).await.unwrap().is_none());
        assert!(h.engine.authenticate_session(&secret).await.unwrap().is_none());
        let actions_in = |action: AuditAction| {
            let filter = AuditFilter { action: Some(action.to_string()), ..AuditFilter::default() };
            let store = h.engine.store();
            let org = org.clone();
            async move { store.list_audit(&org, &filter, &PageRequest::new(Some(50), None)).await.unwrap().items }
        };
        let expired = actions_in(AuditAction::SessionExpired).await;
        assert_eq!(expired.len(), 1, "{}: logged once, the session is gone after", h.name);
        assert_eq!(expired[0].details["session_id"], session.signed_in.session_id.as_str());
        let started = actions_in(AuditAction::SessionSignedIn).await;
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].details["method"], "sign_up");
        assert_eq!(started[0].details["user_agent"], "Browser/1");
        assert_eq!(started[0].source_ip.as_deref(), Some("198.51.100.4"));
        h.cleanup().await;
    }
}

#[tokio::test]
async fn unknown_bearer_tokens_shown_to_the_management_api_are_the_operators_record() {
    for h in harnesses_with(EngineConfig::default()).await {
        h.at(chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 10, 0).unwrap());
        for n in 0..149 {
            let principal = h.engine.authenticate(&unknown_token(n), Some([203, 0, 113, 9].into())).await.unwrap();
            assert!(principal.is_none());
        }
        // Malformed ones count as on the verify path; another source's few do not make an event.
        let junk = h.engine.authenticate("kw_live_not-even-well-formed", Some([203, 0, 113, 9].into())).await;
        assert!(junk.unwrap().is_none());
        for n in 0..10 {
            assert!(h.engine.authenticate(&unknown_token(n), Some([198, 51, 100, 7].into())).await.unwrap().is_none());
        }
        h.clock.advance_secs(60);
        h.engine.flush_usage().await.unwrap();

        let events = spraying_events(&h).await;
        assert_eq!(events.len(), 1, "{}: {events:?}", h.name);
        let event = &events[0];
        assert_eq!(event.org_id, h.admin.org_id(), "filed with the operator");
        assert_eq!(event.actor, keyward_engine::ANONYMOUS_ACTOR);
        assert_eq!(event.source_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(event.details["presented_to"], "management API");
        assert_eq!(event.details["summary"], "150 unknown bearer tokens presented from 203.0.113.9 in 60 s");
        h.cleanup().await;
    }
}
