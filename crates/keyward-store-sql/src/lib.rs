//! Code the SQL backends (`keyward-store-sqlite`, `keyward-store-postgres`)
//! share, so that what does not depend on the dialect is written once: the
//! schemas hold the same columns, and only SQL text and how some values
//! travel (JSON as text or `jsonb`, small counts as 64- or 32-bit integers)
//! differ. A backend crate keeps its SQL and its type bindings.

pub mod accounts;
mod delegate;
mod dialect;
pub mod health;
pub mod organizations;
pub mod query;
pub mod rows;
pub mod tokens;
pub mod usage;
pub mod webhooks;
pub mod write;

pub use dialect::Dialect;

/// For the generated implementations (see `delegate`).
pub use async_trait;

use keyward_store::StoreError;

/// A sqlx error as a [`StoreError`]: the schema's uniqueness and reference
/// rules become `Conflict` and `MissingReference` alike on every backend,
/// so callers can tell a duplicate from a broken database.
pub fn backend(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(database) = &error {
        if database.is_unique_violation() {
            return StoreError::Conflict(database.message().to_owned());
        }
        if database.is_foreign_key_violation() {
            return StoreError::MissingReference(database.message().to_owned());
        }
    }
    StoreError::Backend(Box::new(error))
}
