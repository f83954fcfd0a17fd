//! What tells one SQL backend from another in the code they share: a few
//! SQL fragments. Everything else a shared body needs is sqlx's own
//! `Database`.

use sqlx::Database;

/// The SQL fragments in which two backends' queries of the same shape differ.
pub trait Dialect {
    /// The database the fragments are written for.
    type Db: Database;
    /// `name` folded to ASCII lowercase and compared byte by byte, so names
    /// sort the same on every backend.
    const LOWERED_NAME: &'static str;
    /// "The JSON array `scopes` holds the bound string": the SQL before the
    /// bound value and after it.
    const HAS_SCOPE: [&'static str; 2];
    /// "`lower(name)` contains the bound text, lowered" (a position search,
    /// not LIKE: `%` and `_` in a search are plain characters).
    const NAME_CONTAINS: [&'static str; 2];
    /// A NULL in the place of a token row's `digest`, typed as that column.
    const NO_DIGEST: &'static str;
}
