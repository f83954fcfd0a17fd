//! A person's management token acts within their current role, and that
//! role is cached with the token: authenticating a cached caller needs no
//! database, yet a role change is obeyed on the very next call, on this
//! instance and (PostgreSQL) on every other one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyward_core::id::UserId;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward_core::role::Role;
use keyward_core::scope::management;
use keyward_core::{ManualClock, SeededRng};
use keyward_engine::{Actor, Engine, EngineConfig, EngineError, NewToken, RequestContext};
use keyward_store::PageRequest;
use support::{harnesses, Backing, Harness};

fn context() -> RequestContext {
    RequestContext::default()
}

/// A developer of the harness's organization and a management token they own.
async fn developer_token(h: &Harness) -> (String, String) {
    let invited = h.engine.invite(&h.admin, "dev@example.com", Role::Developer, None).await.unwrap();
    let session =
        h.engine.accept_invitation(invited.secret.expose(), "correct horse battery staple", &context()).await.unwrap();
    let principal = h.engine.authenticate_session(session.secret.expose()).await.unwrap().unwrap();
    let developer = Actor { principal, context: context() };
    let keyspaces = h.engine.list_keyspaces(&h.admin, &PageRequest::new(Some(100), None)).await.unwrap();
    let management_keyspace = keyspaces.items.into_iter().find(|k| k.management).unwrap().id;
    let input = NewToken {
        keyspace_id: management_keyspace,
        name: "dev cli".into(),
        scopes: vec![management::TOKENS_READ.into(), management::TOKENS_WRITE.into()],
        ..NewToken::default()
    };
    let issued = h.engine.issue_token(&developer, input).await.unwrap();
    (issued.secret.expose().to_owned(), session.signed_in.user_id.clone())
}

/// Issues a customer token as the holder of `secret`, through `engine`.
async fn issue_as(engine: &Engine, h: &Harness, secret: &str) -> Result<(), EngineError> {
    let principal = engine.authenticate(secret, None).await?.expect("the token authenticates");
    let actor = Actor { principal, context: context() };
    let input = NewToken { keyspace_id: h.keyspace_id.clone(), name: "issued".into(), ..NewToken::default() };
    engine.issue_token(&actor, input).await.map(|_| ())
}

#[tokio::test]
async fn a_demotion_is_obeyed_on_the_next_call_although_the_role_is_cached() {
    for h in harnesses().await {
        let (secret, user) = developer_token(&h).await;
        issue_as(&h.engine, &h, &secret).await.unwrap();
        issue_as(&h.engine, &h, &secret).await.unwrap();
        h.engine.set_member_role(&h.admin, &UserId::parse(&user).unwrap(), Role::Viewer).await.unwrap();
        let refused = issue_as(&h.engine, &h, &secret).await;
        assert!(matches!(refused, Err(EngineError::Forbidden { .. })), "{}: {refused:?}", h.name);
        h.engine.set_member_role(&h.admin, &UserId::parse(&user).unwrap(), Role::Developer).await.unwrap();
        issue_as(&h.engine, &h, &secret).await.unwrap();
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_cached_caller_authenticates_while_the_memberships_table_is_locked_and_other_instances_hear_of_role_changes()
{
    for h in harnesses().await {
        let Backing::Postgres(schema) = &h.backing else {
            h.cleanup().await;
            continue;
        };
        let (secret, user) = developer_token(&h).await;
        issue_as(&h.engine, &h, &secret).await.unwrap();

        // Nobody can read memberships now; a cached caller need not.
        let locker = sqlx::postgres::PgPoolOptions::new().max_connections(1);
        let locker = locker.connect(&schema.url_with_schema()).await.unwrap();
        let mut lock = locker.begin().await.unwrap();
        sqlx::query("LOCK TABLE memberships IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
        let principal = h.engine.authenticate(&secret, None).await;
        lock.rollback().await.unwrap();
        assert!(matches!(principal, Ok(Some(_))), "the cached caller waited on the database: {principal:?}");

        // A second instance on the same database caches the role too...
        let store = keyward_store_postgres::PostgresStore::connect(&schema.url_with_schema()).await.unwrap();
        let clock = Arc::new(ManualClock::new(h.engine.clock().now()));
        let other = Engine::new(Arc::new(store), clock, Arc::new(SeededRng::new(8)), EngineConfig::default());
        other.load().await.unwrap();
        assert!(other.watch_shared_changes().await.unwrap());
        let started = Instant::now();
        while !other.cache_trusted() {
            assert!(started.elapsed() < Duration::from_secs(10), "the change feed never came up");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        issue_as(&other, &h, &secret).await.unwrap();
        issue_as(&other, &h, &secret).await.unwrap();
        // ...and drops it when the first one demotes the owner.
        h.engine.set_member_role(&h.admin, &UserId::parse(&user).unwrap(), Role::Viewer).await.unwrap();
        let started = Instant::now();
        while issue_as(&other, &h, &secret).await.is_ok() {
            assert!(started.elapsed() < Duration::from_secs(10), "the other instance kept the old role");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let refused = issue_as(&other, &h, &secret).await;
        assert!(matches!(refused, Err(EngineError::Forbidden { .. })), "{refused:?}");
        locker.close().await;
        h.cleanup().await;
    }
}
