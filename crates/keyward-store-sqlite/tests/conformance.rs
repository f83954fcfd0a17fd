//! The shared conformance suite against SQLite, one temporary file per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_store::prelude::*;
use keyward_store_conformance::{conformance_tests, TestBackend};
use keyward_store_sqlite::SqliteStore;

struct Backend {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl TestBackend for Backend {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    async fn cleanup(self) {}
}

async fn make() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    store.migrate().await.unwrap();
    Some(Backend { store, _dir: dir })
}

conformance_tests!(make);

#[tokio::test]
async fn migrations_are_idempotent_and_the_file_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.writer_pool()).await.unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(store.writer_pool()).await.unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(synchronous, 2, "synchronous=FULL");
}

/// A database bootstrapped before organizations and scope catalogs existed
/// upgrades in place: its rows join one new operator organization, allowed
/// scopes become catalogs, and everything keeps working.
#[tokio::test]
async fn pre_organization_data_moves_into_the_operator_organization() {
    let dir = tempfile::tempdir().unwrap();
    let old_migrations = dir.path().join("migrations");
    std::fs::create_dir(&old_migrations).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for name in ["0001_initial.sql", "0002_token_ip_allowlists.sql"] {
        std::fs::copy(shipped.join(name), old_migrations.join(name)).unwrap();
    }
    let store = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    sqlx::migrate::Migrator::new(old_migrations.as_path()).await.unwrap().run(store.writer_pool()).await.unwrap();
    let digest = [7u8; 32];
    sqlx::raw_sql(
        "INSERT INTO keyspaces (id, name, environment, prefix, management, created_at, created_by, allowed_scopes)
         VALUES ('ks_admin', 'keyward management', 'live', 'kw', 1, 1, 'system', NULL),
                ('ks_app', 'app', 'test', 'kw', 0, 2, 'tok_admin', '[\"invoices:read\",\"refunds:*\"]');
         INSERT INTO audit_events (id, occurred_at, actor, action, target_type, target_id, details)
         VALUES ('evt_1', 1, 'system', 'admin.bootstrapped', 'token', 'tok_admin', '{}');",
    )
    .execute(store.writer_pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tokens (id, keyspace_id, digest, name, owner, scopes, metadata, environment, prefix, last4, created_at, created_by)
         VALUES ('tok_admin', 'ks_admin', ?, 'admin', 'admin', '[\"keyward:tokens:read\"]', '{}', 'live', 'kw', 'abcd', 1, 'system')",
    )
    .bind(&digest[..])
    .execute(store.writer_pool())
    .await
    .unwrap();

    store.migrate().await.unwrap();

    let operator = store.operator_organization().await.unwrap().expect("an operator organization");
    assert!(operator.id.starts_with("org_") && operator.id.len() == 26, "{}", operator.id);
    assert!(keyward_core::id::looks_like(keyward_core::id::IdKind::Organization, &operator.id));
    let admin = store
        .find_token_by_digest(&keyward_core::TokenDigest::from_slice(&digest).unwrap())
        .await
        .unwrap()
        .expect("the admin token survives");
    assert_eq!((admin.org_id.as_str(), admin.management), (operator.id.as_str(), true));
    assert_eq!(store.management_keyspace(&operator.id).await.unwrap().unwrap().id, "ks_admin");
    let app = store.get_keyspace(&operator.id, "ks_app").await.unwrap().unwrap();
    assert_eq!(app.org_id, operator.id);
    let catalog: Vec<&str> = app.scope_catalog.as_ref().unwrap().iter().map(|entry| entry.scope.as_str()).collect();
    assert_eq!(catalog, ["invoices:read", "refunds:*"], "allowed scopes became the catalog, in order");
    assert!(store.get_keyspace(&operator.id, "ks_admin").await.unwrap().unwrap().scope_catalog.is_none());
    let page = keyward_store::PageRequest::first();
    let log = store.list_audit(&operator.id, &keyward_store::AuditFilter::default(), &page).await.unwrap();
    assert_eq!(log.items.len(), 1);
}

/// The grouped fields of a token read back from their columns as they
/// were read before grouping: a revocation stored without a reason stays
/// one without a reason, and a rotation's columns half set (which no
/// Keyward write leaves) read as a damaged row rather than a guess.
#[tokio::test]
async fn token_rows_become_groups_without_guessing() {
    let backend = make().await.unwrap();
    let store = &backend.store;
    sqlx::raw_sql(
        "INSERT INTO organizations (id, name, created_at, created_by) VALUES ('org_a', 'A', 1, 'system');
         INSERT INTO keyspaces (id, org_id, name, environment, prefix, management, created_at, created_by)
         VALUES ('ks_a', 'org_a', 'app', 'test', 'kw', 0, 1, 'system');
         INSERT INTO tokens (id, org_id, keyspace_id, management, digest, name, owner, scopes, metadata, environment,
                             prefix, last4, created_at, created_by, revoked_at)
         VALUES ('tok_a', 'org_a', 'ks_a', 0, x'01', 'a', 'alice', '[]', '{}', 'test', 'kw', 'abcd', 1, 'system', 5);",
    )
    .execute(store.writer_pool())
    .await
    .unwrap();
    let token = store.get_token("org_a", "tok_a").await.unwrap().unwrap();
    let revocation = token.revocation.expect("revoked");
    assert_eq!((revocation.at.timestamp_micros(), revocation.reason), (5, None), "no reason is made up");

    sqlx::raw_sql("UPDATE tokens SET rotated_at = 3 WHERE id = 'tok_a'").execute(store.writer_pool()).await.unwrap();
    match store.get_token("org_a", "tok_a").await {
        Err(StoreError::Corrupt(detail)) => assert!(detail.contains("rotated_at set without replaced_by"), "{detail}"),
        other => panic!("a half-set rotation must read as corrupt, got {other:?}"),
    }
}

/// The delivery log written before refusals existed survives the table
/// rebuild that lets a refused attempt keep no duration.
#[tokio::test]
async fn attempts_logged_before_refusals_existed_keep_their_status_and_duration() {
    let (store, _dir) = migrated_before("0019").await;
    sqlx::raw_sql(
        "INSERT INTO organizations (id, name, created_at, created_by) VALUES ('org_a', 'A', 1, 'system');
         INSERT INTO audit_events (id, occurred_at, actor, action, target_type, target_id, details, org_id)
         VALUES ('evt_1', 1, 'system', 'token.created', 'token', 'tok_1', '{}', 'org_a');
         INSERT INTO webhook_endpoints (id, org_id, url, description, event_types, sealed_secret, created_at, created_by)
         VALUES ('whk_1', 'org_a', 'https://hooks.example.com/', '', '[]', x'00', 1, 'tok_admin');
         INSERT INTO webhook_deliveries (endpoint_id, event_id, org_id, event_type, status, attempts, created_at)
         VALUES ('whk_1', 'evt_1', 'org_a', 'token.created', 'succeeded', 1, 1);
         INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, attempted_at, status_code, error, duration_ms)
         VALUES ('whk_1', 'evt_1', 1, 2, 204, NULL, 12);",
    )
    .execute(store.writer_pool())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let page = keyward_store::PageRequest::new(Some(10), None);
    let log = store.list_deliveries("org_a", "whk_1", &page).await.unwrap();
    let attempt = &log.items[0].attempts[0];
    assert_eq!((attempt.status_code, attempt.duration_ms, attempt.refused_by.as_deref()), (Some(204), Some(12), None));
}

/// Management tokens made before expiry ceilings existed get one on
/// upgrade: a child takes its parent's expiry, and a tenant's first admin
/// founded by an expiring token its own (bounded by the founder's) expiry.
#[tokio::test]
async fn management_tokens_made_before_ceilings_existed_take_their_bound_as_ceiling() {
    let (store, _dir) = migrated_before("0020").await;
    sqlx::raw_sql(
        "INSERT INTO organizations (id, name, created_at, created_by) VALUES ('org_a', 'A', 1, 'system');
         INSERT INTO keyspaces (id, org_id, name, environment, prefix, management, created_at, created_by)
         VALUES ('ks_m', 'org_a', 'keyward management', 'live', 'kw', 1, 1, 'system');
         INSERT INTO tokens (id, org_id, keyspace_id, management, digest, name, owner, scopes, metadata, environment,
                             prefix, last4, created_at, created_by, expires_at, parent_token_id)
         VALUES ('tok_ci', 'org_a', 'ks_m', 1, x'01', 'ci', 'admin', '[]', '{}', 'live', 'kw', 'abcd', 1, 'usr_x', 500, NULL),
                ('tok_child', 'org_a', 'ks_m', 1, x'02', 'child', 'admin', '[]', '{}', 'live', 'kw', 'abcd', 2, 'tok_ci', 400, 'tok_ci'),
                ('tok_admin', 'org_a', 'ks_m', 1, x'05', 'admin', 'admin', '[]', '{}', 'live', 'kw', 'abcd', 1, 'usr_x', 900, NULL),
                ('tok_minted', 'org_a', 'ks_m', 1, x'06', 'minted', 'admin', '[]', '{}', 'live', 'kw', 'abcd', 2, 'tok_admin', 800, 'tok_admin'),
                ('tok_founded', 'org_a', 'ks_m', 1, x'03', 'admin (organization founded)', 'admin', '[]', '{}', 'live',
                 'kw', 'abcd', 3, 'tok_operator', 700, NULL),
                ('tok_free', 'org_a', 'ks_m', 1, x'04', 'admin (organization founded)', 'admin', '[]', '{}', 'live',
                 'kw', 'abcd', 4, 'usr_operator', 800, NULL);",
    )
    .execute(store.writer_pool())
    .await
    .unwrap();
    // tok_admin was rotated with a grace period after minting tok_minted:
    // its expires_at is now the grace end, its own expiry kept aside.
    sqlx::raw_sql(
        "UPDATE tokens SET replaced_by = 'tok_next', rotated_at = 3, expires_at_before_rotation = 900, expires_at = 50
         WHERE id = 'tok_admin'",
    )
    .execute(store.writer_pool())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let ceiling = |id: &'static str| {
        let store = &store;
        async move { store.get_token("org_a", id).await.unwrap().unwrap().expiry_ceiling.map(|at| at.timestamp_micros()) }
    };
    assert_eq!(ceiling("tok_ci").await, None, "made by a person: nothing bounded it");
    assert_eq!(ceiling("tok_child").await, Some(500), "the parent's expiry");
    assert_eq!(ceiling("tok_minted").await, Some(900), "a rotated parent's own expiry, not its grace end");
    assert_eq!(ceiling("tok_founded").await, Some(700), "founded by a token: its own bounded expiry");
    assert_eq!(ceiling("tok_free").await, None, "founded by a person");
}

/// A store whose schema stops before migration `version`, as a database
/// made by an older Keyward is; the directory lives as long as the guard.
async fn migrated_before(version: &str) -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let old_migrations = dir.path().join("migrations");
    std::fs::create_dir(&old_migrations).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().as_ref() < version {
            std::fs::copy(shipped.join(&name), old_migrations.join(&name)).unwrap();
        }
    }
    let store = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    sqlx::migrate::Migrator::new(old_migrations.as_path()).await.unwrap().run(store.writer_pool()).await.unwrap();
    (store, dir)
}

/// Keyspaces that share a name from before names were unique keep their
/// data; every one after the first gets its id in its name.
#[tokio::test]
async fn twin_keyspace_names_made_before_uniqueness_are_told_apart() {
    let (store, _dir) = migrated_before("0022").await;
    sqlx::raw_sql(
        "INSERT INTO organizations (id, name, created_at, created_by) VALUES ('org_a', 'A', 1, 'system');
         INSERT INTO keyspaces (id, org_id, name, environment, prefix, management, created_at, created_by)
         VALUES ('ks_first', 'org_a', 'payments', 'test', 'kw', 0, 1, 'system'),
                ('ks_second', 'org_a', 'payments', 'test', 'kw', 0, 2, 'system'),
                ('ks_alone', 'org_a', 'billing', 'test', 'kw', 0, 3, 'system');",
    )
    .execute(store.writer_pool())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let name = |id: &'static str| {
        let store = &store;
        async move { store.get_keyspace("org_a", id).await.unwrap().unwrap().name }
    };
    assert_eq!(name("ks_first").await, "payments");
    assert_eq!(name("ks_second").await, "payments (ks_second)");
    assert_eq!(name("ks_alone").await, "billing");
}
