//! The storage contract of Keyward: one trait, its query types and its error.
//!
//! Backends (`keyward-store-sqlite`, `keyward-store-postgres`) implement
//! [`Store`]; `keyward-store-conformance` holds the behaviour they must share.
//! Every mutation takes the [`AuditEvent`] that describes it and writes both
//! in one transaction: if the event cannot be written, the change does not
//! happen.
//!
//! Tenant isolation is the store's rule, not its callers': every read,
//! list, update and revocation of an organization's data takes the
//! organization's id (`org`) and matches nothing outside it, so a foreign
//! id looks exactly like a missing one. The schema backs this up: a token's
//! keyspace must belong to the token's organization. Only the verification
//! lookup by digest is global, because a token names its own organization.

mod page;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, CatalogScope, Keyspace, Organization, TokenRecord, TokenState};
use keyward_core::policy::TokenPolicy;
use keyward_core::TokenDigest;

pub use page::{Cursor, Page, PageRequest, MAX_PAGE_SIZE};

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
    /// Stored data could not be decoded: a bug or tampering, never user input.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Filters for listing tokens. `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// Only tokens of this keyspace.
    pub keyspace_id: Option<String>,
    /// Only tokens of this owner.
    pub owner: Option<String>,
    /// Only tokens in this state, judged at `now`.
    pub state: Option<TokenState>,
    /// The instant states are judged at.
    pub now: DateTime<Utc>,
}

/// Filters for listing audit events.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only events with this action.
    pub action: Option<String>,
    /// Only events about this target.
    pub target_id: Option<String>,
    /// Only events at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only events strictly before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// A change to a token's mutable fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TokenUpdate {
    /// New name.
    pub name: Option<String>,
    /// New metadata object (replaces the old one).
    pub metadata: Option<serde_json::Value>,
    /// New scopes (replace the old ones).
    pub scopes: Option<Vec<String>>,
    /// New IP allowlist (replaces the old one; empty means anywhere).
    pub allowed_ips: Option<Vec<keyward_core::ip::IpNet>>,
    /// Apply only if the token's scopes are still exactly these, else fail
    /// with [`StoreError::Conflict`]: guards a decision (such as "this does
    /// not widen the scopes") made on an earlier read.
    pub if_scopes_are: Option<Vec<String>>,
}

/// Uses of one token since the last flush.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDelta {
    /// Token id.
    pub token_id: String,
    /// Verifications to add to `use_count`.
    pub uses: u64,
    /// Latest verification time in the batch.
    pub last_used_at: DateTime<Utc>,
}

/// A token record with the digest it is stored under, so callers can
/// invalidate caches keyed by digest after a change.
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// The record after the change.
    pub record: TokenRecord,
    /// Its lookup digest.
    pub digest: TokenDigest,
}

/// What a revocation did.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// The token after the call.
    pub token: StoredToken,
    /// `false` when it was already revoked (the call is idempotent and then
    /// writes nothing, not even an audit event).
    pub newly_revoked: bool,
}

/// What founding an organization writes, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Founding<'a> {
    /// The new organization.
    pub organization: &'a Organization,
    /// Its management keyspace.
    pub keyspace: &'a Keyspace,
    /// Its first admin token.
    pub token: &'a TokenRecord,
    /// That token's digest.
    pub digest: &'a TokenDigest,
    /// The audit event.
    pub event: &'a AuditEvent,
}

/// Everything a Keyward backend stores.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates the operator organization, its management keyspace and the
    /// first admin token, unless an operator organization exists already.
    /// Returns whether it created them. Atomic: either every row and the
    /// event exist afterwards or none does.
    async fn bootstrap(&self, founding: &Founding<'_>) -> Result<bool, StoreError>;

    /// The operator organization, if bootstrapped.
    async fn operator_organization(&self) -> Result<Option<Organization>, StoreError>;

    /// Creates an organization with its management keyspace and first admin
    /// token, atomically. `founding.event` belongs to the creator's organization.
    async fn create_organization(&self, founding: &Founding<'_>) -> Result<(), StoreError>;

    /// One organization by id.
    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError>;

    /// Every organization, newest first (the operator's view).
    async fn list_organizations(&self, page: &PageRequest) -> Result<Page<Organization>, StoreError>;

    /// Replaces the token policy of `org`. Returns the organization after
    /// the change, `None` when there is no such organization.
    async fn set_token_policy(
        &self,
        org: &str,
        policy: &TokenPolicy,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError>;

    /// How many tokens `owner` holds in `org` that are active at `now`.
    async fn count_active_tokens(&self, org: &str, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The management keyspace of `org`.
    async fn management_keyspace(&self, org: &str) -> Result<Option<Keyspace>, StoreError>;

    /// Inserts a keyspace into its `org_id`.
    async fn create_keyspace(&self, keyspace: &Keyspace, event: &AuditEvent) -> Result<(), StoreError>;

    /// One keyspace of `org` by id.
    async fn get_keyspace(&self, org: &str, id: &str) -> Result<Option<Keyspace>, StoreError>;

    /// Keyspaces of `org`, newest first.
    async fn list_keyspaces(&self, org: &str, page: &PageRequest) -> Result<Page<Keyspace>, StoreError>;

    /// Replaces the scope catalog of a keyspace of `org` (`None`: any
    /// customer scope). Returns the keyspace after the change, `None` when
    /// `org` has no such keyspace.
    async fn replace_scope_catalog(
        &self,
        org: &str,
        id: &str,
        catalog: Option<&[CatalogScope]>,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError>;

    /// Inserts a token stored under `digest`. Fails with
    /// [`StoreError::MissingReference`] unless its keyspace exists in its organization.
    async fn create_token(
        &self,
        token: &TokenRecord,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The token stored under `digest`: the verification lookup (one index probe).
    async fn find_token_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError>;

    /// One token of `org` by id.
    async fn get_token(&self, org: &str, id: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Tokens of `org`, newest first.
    async fn list_tokens(
        &self,
        org: &str,
        filter: &TokenFilter,
        page: &PageRequest,
    ) -> Result<Page<TokenRecord>, StoreError>;

    /// Changes a token of `org`. `None` when `org` has no such token.
    async fn update_token(
        &self,
        org: &str,
        id: &str,
        update: &TokenUpdate,
        event: &AuditEvent,
    ) -> Result<Option<StoredToken>, StoreError>;

    /// Revokes a token of `org` at `at`, idempotently. `None` when `org` has no such token.
    async fn revoke_token(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<Revocation>, StoreError>;

    /// Adds batched usage, in one transaction. Unknown ids are ignored (a
    /// token may be deleted between use and flush).
    async fn record_usage(&self, deltas: &[UsageDelta]) -> Result<(), StoreError>;

    /// Audit events of `org`, newest first.
    async fn list_audit(
        &self,
        org: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError>;
}

/// Helpers backends share to turn stored columns back into domain values.
pub mod decode {
    use super::StoreError;
    use chrono::{DateTime, Utc};
    use keyward_core::clock::micros_to_datetime;
    use keyward_core::{Environment, TokenDigest, TokenPrefix};

    /// A stored environment name.
    pub fn environment(text: &str) -> Result<Environment, StoreError> {
        text.parse().map_err(|_| StoreError::Corrupt(format!("unknown environment {text:?}")))
    }

    /// A stored prefix.
    pub fn prefix(text: &str) -> Result<TokenPrefix, StoreError> {
        TokenPrefix::new(text).map_err(|_| StoreError::Corrupt(format!("invalid prefix {text:?}")))
    }

    /// A stored digest.
    pub fn digest(bytes: &[u8]) -> Result<TokenDigest, StoreError> {
        TokenDigest::from_slice(bytes).ok_or_else(|| StoreError::Corrupt("digest is not 32 bytes".into()))
    }

    /// Stored microseconds.
    pub fn time(micros: i64) -> DateTime<Utc> {
        micros_to_datetime(micros)
    }

    /// Optional stored microseconds.
    pub fn optional_time(micros: Option<i64>) -> Option<DateTime<Utc>> {
        micros.map(micros_to_datetime)
    }

    /// A stored JSON array of strings.
    pub fn string_list(value: serde_json::Value) -> Result<Vec<String>, StoreError> {
        serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("scope list: {error}")))
    }

    /// A token policy stored as a JSON object.
    pub fn policy(value: serde_json::Value) -> Result<keyward_core::policy::TokenPolicy, StoreError> {
        serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("token policy: {error}")))
    }

    /// A scope catalog stored as a JSON array of `{"scope", "description"}`.
    pub fn catalog(value: serde_json::Value) -> Result<Vec<keyward_core::model::CatalogScope>, StoreError> {
        serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("scope catalog: {error}")))
    }

    /// An IP allowlist stored as a JSON array of CIDR strings.
    pub fn ip_list(value: serde_json::Value) -> Result<Vec<keyward_core::ip::IpNet>, StoreError> {
        serde_json::from_value(value).map_err(|error| StoreError::Corrupt(format!("IP allowlist: {error}")))
    }
}
