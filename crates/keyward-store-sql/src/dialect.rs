//! What tells one SQL backend from another in the code they share: a few
//! SQL fragments, and how JSON and counts travel. Everything else a shared
//! body needs is sqlx's own `Database`.

use keyward_store::StoreError;
use sqlx::Database;

use crate::rows::StoredJson;

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
    /// A true boolean column compares equal to this (`1` in SQLite, where
    /// booleans are integers; `TRUE` in PostgreSQL).
    const TRUE: &'static str;
    /// A NULL in the place of a token row's `digest`, typed as that column.
    const NO_DIGEST: &'static str;
    /// Queues an event for every endpoint of its organization subscribed to
    /// it: `$1` event id, `$2` event type, `$3` its time, `$4` organization.
    const ENQUEUE_DELIVERIES: &'static str;
    /// Leases due deliveries, counting the attempt: `$1` lease end, `$2`
    /// now, `$3` how many; returns `endpoint_id, event_id, attempts,
    /// sealed_payload`.
    const CLAIM_DELIVERIES: &'static str;
    /// Adds a batch of uses: to the token (`$1` uses, `$2` last use, `$3`
    /// token) and to its day (`$1` token, `$2` day, `$3` uses).
    const RECORD_USES: [&'static str; 2];
    /// Locks an organization's row (`$1`) for the rest of the transaction,
    /// where concurrent writers could otherwise each see another owner left
    /// (PostgreSQL's READ COMMITTED); `None` where writes are serialized
    /// anyway (SQLite's single writer).
    const LOCK_ORGANIZATION: Option<&'static str>;
    /// The function giving the largest of its (non-NULL) arguments: `MAX`
    /// in SQLite, `GREATEST` in PostgreSQL.
    const GREATEST: &'static str;
    /// The function giving the smallest of its (non-NULL) arguments: `MIN`
    /// in SQLite, `LEAST` in PostgreSQL.
    const LEAST: &'static str;
    /// Appended to a read of a row the transaction goes on to change (or
    /// to judge a change by): locks it to the end of the transaction, so a
    /// racing writer waits and then sees this one's outcome. Empty where
    /// writes are serialized anyway (SQLite's single writer).
    const FOR_UPDATE: &'static str;
    /// Appended to a read of a row whose state a write depends on without
    /// changing it (a new token's parent): waits for a change of it in
    /// flight and sees its outcome. Empty where writes are serialized anyway.
    const FOR_SHARE: &'static str;
    /// Each listed token's newest successful verification sample: `$1`
    /// organization, `$2` the token ids as a JSON array (as [`Self::json`]
    /// stores it); returns `token_id, at, outcome, client_ip, user_agent`.
    /// Its shape is the dialect's: SQLite takes the other columns from the
    /// row holding `MAX(at)`, PostgreSQL has `DISTINCT ON`.
    const LAST_SUCCESSES: &'static str;
    /// How a JSON value is stored: text in SQLite, `jsonb` in PostgreSQL.
    type Json: StoredJson + Send + Sync + Unpin + 'static;
    /// How a count of days or seconds is stored: 64 bits in SQLite, 32 in
    /// PostgreSQL's `INTEGER`.
    type Count: Into<i64> + Send + Sync + Unpin + 'static;
    /// `value` as stored JSON.
    fn json(value: &impl serde::Serialize) -> Result<Self::Json, StoreError>;
    /// How many rows a statement changed (sqlx has no trait for it).
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;
    /// `value` as a stored count.
    fn count(value: u32) -> Self::Count;
}
