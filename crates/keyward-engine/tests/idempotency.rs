//! A creation with an idempotency key happens once: a retry, a resubmitted
//! form or a concurrent duplicate finds the token the first request made
//! (stored with it, so on any instance and after a restart) and makes
//! nothing; the same key for another token is refused. On every store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyward_engine::{EngineError, NewToken, MAX_IDEMPOTENCY_KEY_LENGTH};
use keyward_store::{PageRequest, TokenFilter};
use support::{harnesses, Harness};

fn keyed(h: &Harness, name: &str, key: &str) -> NewToken {
    NewToken {
        keyspace_id: h.keyspace_id.clone(),
        name: name.into(),
        idempotency_key: Some(key.into()),
        ..NewToken::default()
    }
}

async fn named(h: &Harness, name: &str) -> usize {
    let filter =
        TokenFilter { name_contains: Some(name.into()), now: h.engine.clock().now(), ..TokenFilter::default() };
    h.engine.list_tokens(&h.admin, filter, &PageRequest::new(Some(100), None)).await.unwrap().items.len()
}

#[tokio::test]
async fn a_keyed_creation_happens_once_and_a_retry_names_what_it_made() {
    for h in harnesses().await {
        let key = "9b2f6c1e-2d4b-4c8e-9a57-3f0e8d1c7b42";
        let first = h.engine.issue_token(&h.admin, keyed(&h, "deploy key", key)).await.unwrap();
        assert_eq!(first.record.idempotency_key.as_deref(), Some(key));

        // The retry (a lost answer, a double click) makes nothing.
        match h.engine.issue_token(&h.admin, keyed(&h, "deploy key", key)).await {
            Err(EngineError::AlreadyCreated { token_id, created_at }) => {
                assert_eq!((token_id, created_at), (first.record.id.clone(), first.record.created_at), "{}", h.name);
            }
            other => panic!("{}: expected already_created, got {other:?}", h.name),
        }
        assert_eq!(named(&h, "deploy key").await, 1, "{}", h.name);

        // The key is the organization's: another token with it is refused
        // without naming the first.
        match h.engine.issue_token(&h.admin, keyed(&h, "another key", key)).await {
            Err(EngineError::Rejected { code: "idempotency_key_reused", detail }) => {
                assert!(!detail.contains(&first.record.id), "{detail}");
            }
            other => panic!("{}: expected idempotency_key_reused, got {other:?}", h.name),
        }
        assert_eq!(named(&h, "another key").await, 0);

        // Without a key, the same request makes another token, as always.
        let plain = NewToken { idempotency_key: None, ..keyed(&h, "deploy key", key) };
        h.engine.issue_token(&h.admin, plain).await.unwrap();
        assert_eq!(named(&h, "deploy key").await, 2);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_token() {
    for h in harnesses().await {
        let requests = (0..8).map(|_| h.engine.issue_token(&h.admin, keyed(&h, "raced", "double-click-1")));
        let results = futures::future::join_all(requests).await;
        let made: Vec<_> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
        assert_eq!(made.len(), 1, "{}: {results:?}", h.name);
        for result in &results {
            match result {
                Ok(_) => {}
                Err(EngineError::AlreadyCreated { token_id, .. }) => assert_eq!(*token_id, made[0].record.id),
                Err(other) => panic!("{}: {other:?}", h.name),
            }
        }
        assert_eq!(named(&h, "raced").await, 1, "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_malformed_key_is_refused_before_anything_is_made() {
    for h in harnesses().await {
        let too_long = "k".repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1);
        for key in ["", "has space", "tab\there", "é", too_long.as_str()] {
            match h.engine.issue_token(&h.admin, keyed(&h, "malformed", key)).await {
                Err(EngineError::Invalid(invalid)) => assert_eq!(invalid.field, "idempotency_key"),
                other => panic!("{}: {key:?}: expected invalid, got {other:?}", h.name),
            }
        }
        assert_eq!(named(&h, "malformed").await, 0);
        h.cleanup().await;
    }
}
