//! The shared row shapes as PostgreSQL returns them: JSON as `jsonb`, counts as 32-bit integers.

pub use keyward_store_sql::rows::TOKEN_COLUMNS;

pub type TokenRow = keyward_store_sql::rows::TokenRow<serde_json::Value, i32>;
