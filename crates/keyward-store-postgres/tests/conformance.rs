//! The shared conformance suite against a real PostgreSQL, one schema per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_store::Store;
use keyward_store_conformance::{conformance_tests, TestBackend};
use keyward_store_postgres::testing::{isolated_schema, IsolatedSchema};

struct Backend(IsolatedSchema);

impl TestBackend for Backend {
    fn store(&self) -> &dyn Store {
        &self.0.store
    }

    async fn cleanup(self) {
        if let Err(error) = self.0.drop_schema().await {
            eprintln!("could not drop test schema: {error}");
        }
    }
}

async fn make() -> Option<Backend> {
    isolated_schema().await.map(Backend)
}

conformance_tests!(make);

#[tokio::test]
async fn migrations_are_idempotent() {
    if let Some(schema) = isolated_schema().await {
        schema.store.migrate().await.unwrap();
        schema.drop_schema().await.unwrap();
    }
}
