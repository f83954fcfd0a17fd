//! The storage contract of Keyward: traits by concern, their query types and their error.
//!
//! Backends (`keyward-store-sqlite`, `keyward-store-postgres`) implement
//! [`Store`], which is the sum of one trait per concern ([`TokenStore`],
//! [`UsageStore`], [`OrganizationStore`], [`AccountStore`], [`WebhookStore`],
//! [`AuditStore`]; bring them into scope with [`prelude`]);
//! `keyward-store-conformance` holds the behaviour they must share. Every
//! mutation takes the [`AuditEvent`](keyward_core::model::AuditEvent) that
//! describes it and writes both in one transaction: if the event cannot be
//! written, the change does not happen.
//!
//! Tenant isolation is the store's rule, not its callers': every read,
//! list, update and revocation of an organization's data takes the
//! organization's id (`org`) and matches nothing outside it, so a foreign
//! id looks exactly like a missing one. The schema backs this up: a token's
//! keyspace must belong to the token's organization. Only the verification
//! lookup by digest is global, because a token names its own organization.

mod accounts;
mod audit;
pub mod decode;
mod organizations;
mod page;
pub mod prelude;
mod tokens;
mod usage;
mod webhooks;

use async_trait::async_trait;
use keyward_core::TokenDigest;

pub use accounts::{Acceptance, AccountStore};
pub use audit::{AuditFilter, AuditStore};
pub use organizations::{Directory, Founding, KeyspaceLifecycle, OrganizationStore};
pub use page::{Cursor, Page, PageRequest, MAX_PAGE_SIZE};
pub use tokens::{
    ActiveTokenLimit, BulkFilter, BulkRevocation, Guarded, Handoff, LifecycleWindow, LineageRevocation, NoticeWrite,
    Revocation, RevocationEvent, RotationWrite, StoredToken, Switch, Switched, TokenFilter, TokenOrder, TokenSortKey,
    TokenStore, TokenUpdate, NEVER_EXPIRES, NEVER_USED,
};
pub use usage::{
    day_of, ClientSighting, DailyUsage, UsageDelta, UsageStore, VerificationSample, MAX_CLIENTS_PER_TOKEN,
    MAX_SAMPLES_PER_TOKEN,
};
pub use webhooks::{AttemptOutcome, DueDelivery, WebhookStore};

/// Storage failures. Messages are for logs; the HTTP edge shows none of them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (duplicate id or digest, a second
    /// management keyspace in one organization, a second operator organization).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row refers to something that does not exist, or exists only in
    /// another organization (e.g. a keyspace of another tenant).
    #[error("missing reference: {0}")]
    MissingReference(String),
    /// An [`ActiveTokenLimit`] would be exceeded; nothing was written.
    #[error("limit reached: {0}")]
    LimitReached(String),
    /// Stored data could not be decoded: a bug or tampering, never user input.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A failure of the database or of reaching it.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// Where a store shared by several processes reports what the others
/// changed, so that each process can drop what it cached.
pub trait ChangeSink: Send + Sync {
    /// A token's stored record changed (or was deleted) and the change is committed.
    fn token_changed(&self, digest: &TokenDigest);
    /// The feed broke: changes may go unreported until [`Self::feed_restored`].
    fn feed_lost(&self);
    /// The feed works again; changes made while it was broken were not reported.
    fn feed_restored(&self);
}

/// Everything a Keyward backend stores: every concern's trait, plus what
/// concerns the database as a whole.
#[async_trait]
pub trait Store:
    TokenStore + UsageStore + OrganizationStore + AccountStore + WebhookStore + AuditStore + Send + Sync + 'static
{
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Commits a one-row write, durably like any other: proof that writes
    /// work now. A store that answers reads but cannot commit (a full disk,
    /// a read-only replica after a failover) is not ready.
    async fn probe_write(&self) -> Result<(), StoreError>;

    /// Starts reporting to `sink`, for as long as it lives, every committed
    /// change to a token made by any process sharing this store. Reports
    /// [`ChangeSink::feed_restored`] once the feed is up (and again after
    /// every break). Answers `false` when the store is not shared between
    /// processes, so there is nothing to watch.
    async fn watch_token_changes(&self, sink: std::sync::Weak<dyn ChangeSink>) -> Result<bool, StoreError> {
        let _ = sink;
        Ok(false)
    }
}
