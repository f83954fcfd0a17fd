//! The shared row shapes as SQLite returns them: JSON as text, counts as 64-bit integers.

pub use keyward_store_sql::rows::{KEYSPACE_COLUMNS, ORGANIZATION_COLUMNS, TOKEN_COLUMNS};

pub type KeyspaceRow = keyward_store_sql::rows::KeyspaceRow<String, i64>;
pub type TokenRow = keyward_store_sql::rows::TokenRow<String, i64>;
pub type AuditRow = keyward_store_sql::rows::AuditRow<String>;
pub type OrganizationRow = keyward_store_sql::rows::OrganizationRow<String>;
