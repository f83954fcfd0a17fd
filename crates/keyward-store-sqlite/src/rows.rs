//! The shared row shapes as SQLite returns them: JSON as text, counts as 64-bit integers.

pub use keyward_store_sql::rows::TOKEN_COLUMNS;

pub type TokenRow = keyward_store_sql::rows::TokenRow<String, i64>;
