//! A verifier embedded on its own, as a service would: built from the store
//! an engine writes and a clock, with no engine, accounts or sessions, it
//! verifies what the engine issued and writes the usage it counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::id::TokenId;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use keyward_core::{Environment, ManualClock, SeededRng};
use keyward_engine::{
    Actor, Engine, EngineConfig, NewKeyspace, NewToken, RequestContext, Verifier, VerifyCode, VerifyOptions,
};
use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;

#[tokio::test]
async fn a_verifier_built_from_a_store_and_a_clock_verifies_what_the_engine_issued() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("k.db")).await.unwrap());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
    let engine = Engine::new(store.clone(), clock.clone(), Arc::new(SeededRng::new(7)), EngineConfig::default());
    let admin = engine.bootstrap().await.unwrap().unwrap();
    let principal = engine.authenticate(admin.secret.expose(), None).await.unwrap().unwrap();
    let actor = Actor { principal, context: RequestContext::default() };
    let keyspace = NewKeyspace {
        name: "payments".into(),
        environment: Environment::Live,
        prefix: None,
        default_ttl_seconds: None,
        scope_catalog: None,
        rotation_period_days: None,
        disable_after_inactive_days: None,
    };
    let keyspace_id = engine.create_keyspace(&actor, keyspace).await.unwrap().id;
    let input =
        NewToken { keyspace_id, name: "billing".into(), scopes: vec!["invoices:read".into()], ..NewToken::default() };
    let issued = engine.issue_token(&actor, input).await.unwrap();
    let secret = issued.secret.expose();

    let verifier = Verifier::new(store.clone(), clock.clone());
    let verification = verifier.verify(secret, &["invoices:read".to_owned()]).await.unwrap();
    assert!(verification.is_valid());
    assert_eq!(verification.token().map(|token| token.id.as_str()), Some(issued.record.id.as_str()));
    let invoices_write = verifier.require_scopes(vec!["invoices:write".to_owned()]);
    let options = VerifyOptions { required_scopes: &invoices_write, ..VerifyOptions::default() };
    let code = verifier.verify_with(secret, &options, |verdict| verdict.code).await.unwrap();
    assert_eq!(code, VerifyCode::InsufficientScope);
    assert_eq!(verifier.verify("kw_live_not-a-token", &[]).await.unwrap().code, VerifyCode::Malformed);
    assert_eq!(verifier.cached_tokens(), 1);

    assert_eq!(verifier.flush().await.unwrap(), 1, "the one valid use is written");
    let stored = engine.get_token(&actor, &TokenId::parse(&issued.record.id).unwrap()).await.unwrap();
    assert_eq!(stored.usage.use_count, 1);
}
