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
use keyward_core::model::{
    AuditEvent, CatalogScope, DeliveryAttempt, DeliveryStatus, DisabledReason, Invitation, Keyspace, Member,
    Organization, RevokedReason, ServiceAccount, Session, TokenRecord, TokenState, User, WebhookDelivery,
    WebhookEndpoint,
};
use keyward_core::policy::TokenPolicy;
use keyward_core::role::Role;
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

/// The most active tokens the new token's owner may hold, the new one
/// included, judged at `now` (revoked and expired tokens do not count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveTokenLimit {
    /// The most active tokens per owner.
    pub max: u64,
    /// The instant expiry is judged at.
    pub now: DateTime<Utc>,
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
    /// Only tokens whose name contains this, ignoring ASCII case (no wildcards).
    pub name_contains: Option<String>,
    /// Only tokens holding this exact scope string (as granted).
    pub scope: Option<String>,
    /// Only tokens with an expiry before this instant.
    pub expires_before: Option<DateTime<Utc>>,
    /// Only tokens replaced by a rotation (with `Active`: in their grace period).
    pub replaced: bool,
    /// The instant states are judged at.
    pub now: DateTime<Utc>,
    /// The order to list in; newest first unless asked.
    pub order: TokenOrder,
}

/// What a token list is sorted by. Ties are broken by id, in the same
/// direction, so keyset pages never skip or repeat a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenSortKey {
    /// When it was created.
    #[default]
    Created,
    /// When it expires; a token that never expires counts as expiring last.
    Expires,
    /// When it was last verified; a token never used counts as used first.
    LastUsed,
    /// Its name, ignoring ASCII case (other letters in byte order, the same
    /// on every backend).
    Name,
}

/// A token list's order: a key and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOrder {
    /// What to sort by.
    pub key: TokenSortKey,
    /// Largest first.
    pub descending: bool,
}

impl Default for TokenOrder {
    /// Newest first.
    fn default() -> Self {
        Self { key: TokenSortKey::Created, descending: true }
    }
}

impl TokenOrder {
    /// The numeric sort key of `token` for this order (the cursor's
    /// `micros`); 0 for orders by text.
    pub fn micros_of(&self, token: &TokenRecord) -> i64 {
        match self.key {
            TokenSortKey::Created => token.created_at.timestamp_micros(),
            TokenSortKey::Expires => token.expires_at.map_or(NEVER_EXPIRES, |at| at.timestamp_micros()),
            TokenSortKey::LastUsed => token.last_used_at.map_or(NEVER_USED, |at| at.timestamp_micros()),
            TokenSortKey::Name => 0,
        }
    }

    /// The position after `token` in a list in this order.
    pub fn cursor_after(&self, token: &TokenRecord) -> Cursor {
        Cursor {
            micros: self.micros_of(token),
            id: token.id.clone(),
            text: (self.key == TokenSortKey::Name).then(|| token.name.to_ascii_lowercase()),
        }
    }

    /// The wire names of the orders: a key, `-` in front for largest first.
    pub const NAMES: [&'static str; 4] = ["created", "expires", "last_used", "name"];

    /// Parses `created`, `-created`, `expires`, `last_used`, `name` and
    /// their `-` forms; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (descending, key) = match text.strip_prefix('-') {
            Some(key) => (true, key),
            None => (false, text),
        };
        let key = match key {
            "created" => TokenSortKey::Created,
            "expires" => TokenSortKey::Expires,
            "last_used" => TokenSortKey::LastUsed,
            "name" => TokenSortKey::Name,
            _ => return None,
        };
        Some(Self { key, descending })
    }

    /// The wire name [`TokenOrder::parse`] reads back.
    pub fn as_text(&self) -> String {
        let key = match self.key {
            TokenSortKey::Created => "created",
            TokenSortKey::Expires => "expires",
            TokenSortKey::LastUsed => "last_used",
            TokenSortKey::Name => "name",
        };
        if self.descending {
            format!("-{key}")
        } else {
            key.to_owned()
        }
    }

    /// The pieces of an SQL keyset query in this order, for SQL backends:
    /// the sort expression over the `tokens` columns (`lowered_name` is the
    /// backend's ASCII-lowercased `name`), the comparison that means
    /// "after", and the direction.
    pub fn keyset_sql(&self, lowered_name: &str) -> (String, &'static str, &'static str) {
        let key = match self.key {
            TokenSortKey::Created => "created_at".to_owned(),
            TokenSortKey::Expires => format!("COALESCE(expires_at, {NEVER_EXPIRES})"),
            TokenSortKey::LastUsed => format!("COALESCE(last_used_at, {NEVER_USED})"),
            TokenSortKey::Name => lowered_name.to_owned(),
        };
        if self.descending {
            (key, "<", "DESC")
        } else {
            (key, ">", "ASC")
        }
    }

    /// Whether `cursor` was made by a list in this order's kind: a name
    /// cursor carries the name, a time cursor does not.
    pub fn fits(&self, cursor: &Cursor) -> bool {
        (self.key == TokenSortKey::Name) == cursor.text.is_some()
    }
}

/// The sort key standing for "never expires": after every real instant.
pub const NEVER_EXPIRES: i64 = i64::MAX;
/// The sort key standing for "never used": before every real instant.
pub const NEVER_USED: i64 = -1;

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
    /// New rotation period in days (`Some(None)` clears it).
    pub rotation_period_days: Option<Option<u32>>,
    /// Automatic rotation: `Some(None)` turns it off. The endpoint must
    /// belong to the token's organization (the caller checks).
    pub auto_rotate: Option<Option<keyward_core::model::AutoRotate>>,
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

/// A rotation: the new token and what becomes of the old one, written in
/// one transaction.
#[derive(Debug, Clone, Copy)]
pub struct RotationWrite<'a> {
    /// The token being replaced.
    pub old_id: &'a str,
    /// The instant of the rotation; the old token must be active then.
    pub at: DateTime<Utc>,
    /// When the old token stops verifying (never later than its own
    /// expiry); `None` revokes it at `at` with [`RevokedReason::Rotation`].
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// The replacement (its `rotated_from` names the old token).
    pub new_token: &'a TokenRecord,
    /// The replacement's digest.
    pub new_digest: &'a TokenDigest,
    /// The audit events (the old token's rotation, the new token's creation).
    pub events: &'a [AuditEvent],
    /// For an automatic rotation: the new secret's one delivery.
    pub handoff: Option<Handoff<'a>>,
}

/// The delivery of a replacement token to the endpoint its owner chose,
/// queued in the rotation's transaction: either the token is replaced and
/// its successor is on its way, or neither.
#[derive(Debug, Clone, Copy)]
pub struct Handoff<'a> {
    /// The receiving endpoint; if it is gone (or in another organization)
    /// the rotation fails with [`StoreError::MissingReference`].
    pub endpoint_id: &'a str,
    /// The `token.auto_rotated` event (which holds no secret).
    pub event: &'a AuditEvent,
    /// The new secret sealed under the master key, with context
    /// [`keyward_core::webhook::handoff_context`].
    pub sealed_token: &'a [u8],
}

/// What a write guarded by a token's state did.
#[derive(Debug, Clone)]
pub enum Guarded<T> {
    /// Written.
    Applied(T),
    /// Not written: the token is not in a state that allows it (the record
    /// as read inside the transaction, so the caller can say why).
    Refused(Box<TokenRecord>),
    /// The organization has no such token.
    Missing,
}

/// Which tokens a bulk revocation takes: those of `org` active at `now`
/// matching every filter given. At least one of `owner`, `keyspace_id`,
/// `name_prefix` must be set (the caller checks).
#[derive(Debug, Clone, Default)]
pub struct BulkFilter {
    /// Only tokens of this owner.
    pub owner: Option<String>,
    /// Only tokens of this keyspace.
    pub keyspace_id: Option<String>,
    /// Only tokens whose name starts with this (case-sensitive).
    pub name_prefix: Option<String>,
    /// Only tokens holding this exact scope string (as granted).
    pub scope: Option<String>,
    /// Only these tokens (a selection made on a screen); empty: no such limit.
    pub ids: Vec<String>,
    /// Never this token (the caller's own, so it cannot cut off its own access).
    pub except_id: Option<String>,
    /// The instant "active" is judged at.
    pub now: DateTime<Utc>,
}

/// What revoking a token with its descendants did.
#[derive(Debug, Clone)]
pub struct LineageRevocation {
    /// The token named, after the call.
    pub root: Revocation,
    /// Its descendants revoked by this call (those revoked before are not
    /// listed), with their digests to evict from caches.
    pub descendants: Vec<StoredToken>,
}

/// Turning a token off or on again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Disable it at this instant for this reason.
    Disable(DateTime<Utc>, DisabledReason),
    /// Enable it again at this instant.
    Enable(DateTime<Utc>),
    /// Disable it for inactivity at `at`, only if its last activity (use,
    /// creation or re-enabling) is still no later than `last_activity_at`:
    /// a use that landed after the scheduler read the token keeps it alive.
    DisableInactive {
        /// The instant of the disabling.
        at: DateTime<Utc>,
        /// The last activity the decision was made on.
        last_activity_at: DateTime<Utc>,
    },
}

/// Which tokens of an organization the lifecycle scheduler looks at: a
/// superset of those owed a notice (the pure schedule decides), narrow
/// enough that tokens with nothing coming are not read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleWindow {
    /// The instant judged at.
    pub now: DateTime<Utc>,
    /// Expiries up to this instant (now plus the longest warning period).
    pub expiring_until: DateTime<Utc>,
    /// Expiries before this are not looked at again: announced long ago,
    /// or missed while no scheduler ran.
    pub expired_since: DateTime<Utc>,
    /// Tokens whose last activity is at or before this (inactivity rule
    /// and its warnings); `None` when the organization has no such rule.
    pub idle_since: Option<DateTime<Utc>>,
    /// The rotation period of tokens without their own.
    pub rotation_period_days: Option<u32>,
    /// Only this keyspace's tokens (the scheduler goes keyspace by
    /// keyspace, each with its own rules).
    pub keyspace_id: Option<String>,
}

/// A keyspace's own lifecycle rules (each `None`: the organization's applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyspaceLifecycle {
    /// Rotation period of its tokens without their own.
    pub rotation_period_days: Option<u32>,
    /// Disable its tokens unused this many days.
    pub disable_after_inactive_days: Option<u32>,
}

/// A lifecycle notice to record once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeWrite<'a> {
    /// Organization.
    pub org_id: &'a str,
    /// Token it is about.
    pub token_id: &'a str,
    /// `expiring:7d`, `expired`, `rotation_due`, …
    pub kind: &'a str,
    /// The instant it is about.
    pub about: DateTime<Utc>,
    /// When it is recorded.
    pub noticed_at: DateTime<Utc>,
}

/// What switching a token did.
#[derive(Debug, Clone)]
pub struct Switched {
    /// The token after the call.
    pub token: StoredToken,
    /// `false` when it already was as asked (then nothing is written, not
    /// even the audit event; a second disabling keeps the first's time and reason).
    pub changed: bool,
}

/// A delivery handed to a dispatcher: leased to it until the lease ends,
/// after which another dispatcher may take it again (at least once).
#[derive(Clone)]
pub struct DueDelivery {
    /// The endpoint.
    pub endpoint_id: String,
    /// Its URL.
    pub url: String,
    /// Its signing secret, sealed under the master key (context: the endpoint id).
    pub sealed_secret: Vec<u8>,
    /// The event to deliver.
    pub event: AuditEvent,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The signing secret being replaced, while it still signs alongside.
    pub previous_sealed_secret: Option<Vec<u8>>,
    /// For an automatic rotation's handoff: the new token, sealed.
    pub sealed_payload: Option<Vec<u8>>,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("endpoint_id", &self.endpoint_id)
            .field("event_id", &self.event.id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// How an attempt ended, and what becomes of the delivery.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event_id: String,
    /// The attempt made (as claimed); an outcome for a delivery claimed
    /// again since is logged but does not change it.
    pub attempt: DeliveryAttempt,
    /// What the delivery becomes: `Succeeded`, `Pending` (retried at
    /// `next_attempt_at`) or `Failed` (no more attempts).
    pub status: DeliveryStatus,
    /// When to try again (with `Pending`).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// What a bulk revocation did.
#[derive(Debug, Clone)]
pub enum BulkRevocation {
    /// Revoked, each with its audit event; the tokens after the change.
    Revoked(Vec<StoredToken>),
    /// Nothing written: the tokens matching now are not as many as the
    /// caller expected (it decided on an earlier count).
    CountChanged(u64),
}

/// Clients seen using a token in its rotation grace period since the last
/// flush, one per (address, user agent).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSighting {
    /// Token id.
    pub token_id: String,
    /// The address it was presented from, if known.
    pub client_ip: Option<String>,
    /// The client's user agent, if known (truncated).
    pub user_agent: Option<String>,
    /// Uses in the batch.
    pub uses: u64,
    /// First use in the batch.
    pub first_seen_at: DateTime<Utc>,
    /// Last use in the batch.
    pub last_seen_at: DateTime<Utc>,
}

/// One verification of a token, kept as a sample for its page: every
/// denial of a known token and at most one success per usage flush.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationSample {
    /// Token id.
    pub token_id: String,
    /// When it was verified.
    pub at: DateTime<Utc>,
    /// The verify code (`VALID`, `REVOKED`, `INSUFFICIENT_SCOPE`, …).
    pub outcome: String,
    /// The address it was presented from, if known.
    pub client_ip: Option<String>,
    /// The client's user agent, if known (truncated).
    pub user_agent: Option<String>,
}

/// Most samples kept per token; older ones are dropped as new ones arrive.
pub const MAX_SAMPLES_PER_TOKEN: i64 = 50;

/// Successful verifications of a token on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyUsage {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Verifications that day.
    pub uses: u64,
}

/// The UTC day (days since 1970-01-01) an instant falls on.
pub fn day_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// Most distinct clients remembered per token: enough to name every
/// deployment still using an old token, bounded against a flood.
pub const MAX_CLIENTS_PER_TOKEN: i64 = 100;

/// What founding an organization writes, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Founding<'a> {
    /// The new organization.
    pub organization: &'a Organization,
    /// Its management keyspace.
    pub keyspace: &'a Keyspace,
    /// Its first admin token and that token's digest (bootstrap and
    /// operator-founded organizations).
    pub admin: Option<(&'a TokenRecord, &'a TokenDigest)>,
    /// Its first owner, created with it (open sign-up).
    pub owner: Option<(&'a User, &'a Member)>,
    /// The audit event.
    pub event: &'a AuditEvent,
}

/// Makes the audit event for one token revoked as a consequence of another
/// change (a member or service account removed), so the store can revoke
/// every matching token in the same transaction and still log each one.
pub type RevocationEvent<'a> = &'a (dyn Fn(&TokenRecord) -> Result<AuditEvent, StoreError> + Send + Sync);

/// What accepting an invitation writes, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Acceptance<'a> {
    /// The invitation being spent.
    pub invitation_id: &'a str,
    /// The instant it is spent at; an invitation expired by then is refused.
    pub at: DateTime<Utc>,
    /// The user to create, when the invited address has no account yet.
    pub new_user: Option<&'a User>,
    /// The membership to create.
    pub member: &'a Member,
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

    /// Renames `org`, with its audit event in the same transaction.
    /// Returns the organization after the change, `None` when there is no
    /// such organization.
    async fn rename_organization(
        &self,
        org: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError>;

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

    /// Replaces a keyspace's lifecycle rules; `None` if `org` has no such keyspace.
    async fn set_keyspace_lifecycle(
        &self,
        org: &str,
        id: &str,
        lifecycle: &KeyspaceLifecycle,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError>;

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
    /// [`StoreError::MissingReference`] unless its keyspace exists in its
    /// organization, and with [`StoreError::LimitReached`] when `limit` is
    /// given and its owner already has that many active tokens. The count and
    /// the insert are one step: creations racing for one owner never pass
    /// the limit together. A token with a `parent_token_id` is refused with
    /// [`StoreError::Conflict`] when that parent is revoked by the time of
    /// the insert, so a revocation with descendants racing the parent's
    /// last request leaves no child behind.
    async fn create_token(
        &self,
        token: &TokenRecord,
        digest: &TokenDigest,
        event: &AuditEvent,
        limit: Option<ActiveTokenLimit>,
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

    /// Revokes a token of `org` at `at` for `reason`, idempotently (a
    /// second call keeps the first time and reason). `None` when `org` has
    /// no such token.
    async fn revoke_token(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        event: &AuditEvent,
    ) -> Result<Option<Revocation>, StoreError>;

    /// Revokes at `at`, for `reason`, the management token `id` of `org`
    /// (unless it is revoked already) and every token descending from it:
    /// the management tokens whose `parent_token_id` chain leads to it,
    /// whatever their state (a revoked link still passes its descendants
    /// on), and, with `customer_tokens`, the customer tokens any of those
    /// made. Logs `event` when the root is newly revoked and one
    /// `revocation_event` per descendant newly revoked; one transaction.
    /// `None` when `org` has no such management token.
    #[allow(clippy::too_many_arguments)]
    async fn revoke_with_descendants(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        customer_tokens: bool,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<LineageRevocation>, StoreError>;

    /// Disables or enables a token of `org`, idempotently. Refused when it
    /// is revoked (revocation is final); enabling does not undo an expiry.
    async fn switch_token(
        &self,
        org: &str,
        id: &str,
        switch: Switch,
        event: &AuditEvent,
    ) -> Result<Guarded<Switched>, StoreError>;

    /// Deletes a token of `org` for good, with what was recorded about its
    /// clients; its audit events stay. `None` when `org` has no such token.
    /// Tokens that name it (`rotated_from`, `replaced_by`) keep the id.
    async fn delete_token(&self, org: &str, id: &str, event: &AuditEvent) -> Result<Option<StoredToken>, StoreError>;

    /// Live tokens of `org` that may be owed a lifecycle notice (see
    /// [`LifecycleWindow`]), ordered by id, after `after_id`, at most `limit`.
    async fn lifecycle_candidates(
        &self,
        org: &str,
        window: &LifecycleWindow,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, StoreError>;

    /// Records a notice and its event (and the event's webhook deliveries)
    /// in one transaction, unless the same notice was recorded before:
    /// `false` then, and nothing is written.
    async fn record_notice(&self, notice: &NoticeWrite<'_>, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Registers a webhook endpoint with its sealed signing secret.
    async fn create_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Replaces an endpoint's signing secret; the one it replaces keeps
    /// signing alongside until `previous_until`. False if there is no such
    /// endpoint in `org`.
    async fn rotate_webhook_secret(
        &self,
        org: &str,
        id: &str,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// The webhook endpoints of `org`, oldest first.
    async fn list_webhooks(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// One webhook endpoint of `org`.
    async fn get_webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Removes a webhook endpoint of `org` with its deliveries; `false`
    /// when there is none.
    async fn delete_webhook(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Takes up to `limit` pending deliveries due at `now` (oldest due
    /// first) and leases them until `lease_until`, counting the attempt.
    /// Deliveries are queued by the audit write of their event (same
    /// transaction), one per endpoint whose event types include it.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Logs an attempt and moves its delivery on.
    async fn finish_attempt(&self, outcome: &AttemptOutcome) -> Result<(), StoreError>;

    /// The delivery log of an endpoint of `org`, newest first, each with its attempts.
    async fn list_deliveries(
        &self,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError>;

    /// How many tokens of `org` a bulk revocation with `filter` would take.
    async fn count_matching(&self, org: &str, filter: &BulkFilter) -> Result<u64, StoreError>;

    /// Revokes at `filter.now` every token of `org` matching `filter`, for
    /// `reason`, logging `event` (the bulk action) and one
    /// `revocation_event` per token; one transaction. With `expected`, writes
    /// nothing unless exactly that many match.
    async fn revoke_matching(
        &self,
        org: &str,
        filter: &BulkFilter,
        reason: RevokedReason,
        expected: Option<u64>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<BulkRevocation, StoreError>;

    /// Replaces a token of `org` by `rotation.new_token`: inserts the new
    /// token and marks the old one replaced, shortening its expiry to the
    /// grace end (or revoking it). Refused unless the old token is active at
    /// `rotation.at` and not replaced already; the check and the writes are
    /// one transaction, so two racing rotations give one replacement.
    /// Applied: the old token after the change.
    async fn rotate_token(&self, org: &str, rotation: &RotationWrite<'_>) -> Result<Guarded<StoredToken>, StoreError>;

    /// Moves the end of a rotated token's grace period to `ends_at`, capped
    /// at its own expiry from before the rotation. Refused unless the token
    /// is replaced and still in its grace period at `now`. Applied: the
    /// token after the change.
    async fn set_rotation_grace(
        &self,
        org: &str,
        id: &str,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Guarded<StoredToken>, StoreError>;

    /// Adds client sightings (per token, address and user agent). A token
    /// keeps at most [`MAX_CLIENTS_PER_TOKEN`] distinct clients; later ones
    /// are dropped. Unknown token ids are ignored.
    async fn record_client_sightings(&self, sightings: &[ClientSighting]) -> Result<(), StoreError>;

    /// Clients seen using a token of `org`, most recent first (totals).
    async fn list_token_clients(&self, org: &str, token_id: &str) -> Result<Vec<ClientSighting>, StoreError>;

    /// Adds batched usage, in one transaction, to each token's totals and to
    /// its count for the UTC day of the batch's last use. Unknown ids are
    /// ignored (a token may be deleted between use and flush).
    async fn record_usage(&self, deltas: &[UsageDelta]) -> Result<(), StoreError>;

    /// A token of `org`'s verifications per UTC day from `since_day` on,
    /// oldest first; days without any are absent.
    async fn usage_by_day(&self, org: &str, token_id: &str, since_day: i64) -> Result<Vec<DailyUsage>, StoreError>;

    /// Adds verification samples, keeping the newest
    /// [`MAX_SAMPLES_PER_TOKEN`] per token. Unknown token ids are ignored.
    async fn record_verification_samples(&self, samples: &[VerificationSample]) -> Result<(), StoreError>;

    /// For each of `token_ids` (of `org`) with a successful verification
    /// in its sample, the newest one: where and by what client the token
    /// was last used, for the tokens table. In no particular order.
    async fn last_successful_verifications(
        &self,
        org: &str,
        token_ids: &[String],
    ) -> Result<Vec<VerificationSample>, StoreError>;

    /// A token of `org`'s newest verification samples, newest first.
    async fn recent_verifications(
        &self,
        org: &str,
        token_id: &str,
        limit: u32,
    ) -> Result<Vec<VerificationSample>, StoreError>;

    /// The user with this (lowercased) email.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// One user by id.
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// Every membership of a user, oldest first (sign-in picks among them).
    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError>;

    /// The membership of `user_id` in `org`.
    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError>;

    /// Members of `org`, oldest first.
    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError>;

    /// Changes a member's role. `None` when `org` has no such member;
    /// [`StoreError::Conflict`] when it would leave `org` without an owner.
    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError>;

    /// Removes a member of `org`, ends their sessions there and revokes at
    /// `at` every active token they own there, logging each revocation with
    /// `revocation_event`; all in one transaction. Returns the revoked tokens
    /// (to evict from caches), `None` when there is no such member, and
    /// [`StoreError::Conflict`] when it would leave `org` without an owner.
    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError>;

    /// Stores a pending invitation under the digest of its secret.
    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The invitation whose secret has this digest, spent or not.
    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError>;

    /// Invitations of `org` neither accepted nor expired at `now`, newest first.
    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError>;

    /// Withdraws a pending invitation of `org`. Whether there was one.
    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Spends an invitation and creates the membership (and user). `false`
    /// when it is spent, withdrawn or expired at `acceptance.at`; a second
    /// acceptance racing the first loses here. [`StoreError::Conflict`]
    /// when the user is a member already.
    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError>;

    /// Stores a session under the digest of its secret, with the event
    /// that records its start.
    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The session whose secret has this digest (expired ones included:
    /// the caller judges time).
    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError>;

    /// Records that the user of session `session_id` of `org` typed their
    /// password at `at` (for a sensitive action), with `event`, in one
    /// transaction. Whether there is such a session.
    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Ends a session. Whether there was one; `event` is logged in the same
    /// transaction, and only when there was (so two racing sign-outs log one).
    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError>;

    /// Replaces a user's password hash and ends every session of theirs
    /// except `keep_session` (the one that made the change), logging
    /// `events` (one per organization that should know); one transaction.
    /// `false` when there is no such user.
    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// The organizations other than `org` that hold `id` (a token,
    /// keyspace, webhook, invitation, service account, user or organization
    /// id; for a user, those they are a member of, none when they are a
    /// member of `org` too): what tells a cross-tenant probe from a
    /// mistyped id, and whom to tell. The one lookup that crosses tenants;
    /// its answer goes only to the audit log of those organizations.
    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError>;

    /// Creates a service account in its `org_id`.
    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError>;

    /// One service account of `org`.
    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError>;

    /// Service accounts of `org`, oldest first.
    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError>;

    /// Removes a service account of `org` and revokes at `at` every active
    /// token it owns, logging each; one transaction. `None` when there is no such account.
    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError>;

    /// Appends an event that records no change of its own (a security
    /// observation, such as a rotated token presented after its grace).
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

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

    /// `(token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at)`
    /// as stored, `''` standing for "not known".
    pub type ClientRow = (String, String, String, i64, i64, i64);

    /// `(token_id, at, outcome, client_ip, user_agent)` as stored, `''`
    /// standing for "not known".
    pub type SampleRow = (String, i64, String, String, String);

    /// A stored verification sample.
    pub fn verification_sample((token_id, at, outcome, client_ip, user_agent): SampleRow) -> super::VerificationSample {
        super::VerificationSample {
            token_id,
            at: time(at),
            outcome,
            client_ip: (!client_ip.is_empty()).then_some(client_ip),
            user_agent: (!user_agent.is_empty()).then_some(user_agent),
        }
    }

    /// A stored day of usage.
    pub fn daily_usage((day, uses): (i64, i64)) -> super::DailyUsage {
        super::DailyUsage { day, uses: u64::try_from(uses).unwrap_or_default() }
    }

    /// A stored client sighting.
    pub fn client_sighting(
        (token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at): ClientRow,
    ) -> super::ClientSighting {
        super::ClientSighting {
            token_id,
            client_ip: (!client_ip.is_empty()).then_some(client_ip),
            user_agent: (!user_agent.is_empty()).then_some(user_agent),
            uses: u64::try_from(uses).unwrap_or_default(),
            first_seen_at: time(first_seen_at),
            last_seen_at: time(last_seen_at),
        }
    }

    /// A stored revocation reason.
    pub fn revoked_reason(text: Option<&str>) -> Result<Option<keyward_core::model::RevokedReason>, StoreError> {
        text.map(|text| text.parse().map_err(|_| StoreError::Corrupt(format!("unknown revocation reason {text:?}"))))
            .transpose()
    }

    /// Columns of a webhook endpoint, in the order [`webhook_endpoint`] takes them.
    pub const ENDPOINT_COLUMNS: &str = "id, org_id, url, description, event_types, created_at, created_by";

    /// A stored webhook endpoint, its event types already parsed as JSON.
    pub fn webhook_endpoint(
        (id, org_id, url, description, event_types, created_at, created_by): (
            String,
            String,
            String,
            String,
            serde_json::Value,
            i64,
            String,
        ),
    ) -> Result<keyward_core::model::WebhookEndpoint, StoreError> {
        Ok(keyward_core::model::WebhookEndpoint {
            event_types: string_list(event_types)?,
            id,
            org_id,
            url,
            description,
            created_at: time(created_at),
            created_by,
        })
    }

    /// `(endpoint_id, event_id, event_type, status, created_at,
    /// next_attempt_at, delivered_at)` as stored.
    pub type DeliveryRow = (String, String, String, String, i64, Option<i64>, Option<i64>);

    /// A stored delivery, without its attempts.
    pub fn delivery(
        (endpoint_id, event_id, event_type, status, created_at, next_attempt_at, delivered_at): DeliveryRow,
    ) -> Result<keyward_core::model::WebhookDelivery, StoreError> {
        Ok(keyward_core::model::WebhookDelivery {
            status: status.parse().map_err(|()| StoreError::Corrupt(format!("unknown delivery status {status:?}")))?,
            endpoint_id,
            event_id,
            event_type,
            created_at: time(created_at),
            next_attempt_at: optional_time(next_attempt_at),
            delivered_at: optional_time(delivered_at),
            attempts: Vec::new(),
        })
    }

    /// `(attempt, attempted_at, status_code, error, duration_ms,
    /// refused_by)` as stored.
    pub type AttemptRow = (i32, i64, Option<i32>, Option<String>, Option<i64>, Option<String>);

    /// Columns of a delivery attempt, in the order [`attempt`] takes them.
    pub const ATTEMPT_COLUMNS: &str = "attempt, attempted_at, status_code, error, duration_ms, refused_by";

    /// A stored delivery attempt.
    pub fn attempt(
        (attempt, attempted_at, status_code, error, duration_ms, refused_by): AttemptRow,
    ) -> keyward_core::model::DeliveryAttempt {
        keyward_core::model::DeliveryAttempt {
            attempt: u32::try_from(attempt).unwrap_or_default(),
            attempted_at: time(attempted_at),
            status_code: status_code.and_then(|code| u16::try_from(code).ok()),
            error,
            duration_ms: duration_ms.map(|ms| u64::try_from(ms).unwrap_or_default()),
            refused_by,
        }
    }

    /// A token's automatic rotation, from its two columns (the endpoint is
    /// set to NULL when it is deleted, which turns the opt-in off).
    pub fn auto_rotate(
        webhook_id: Option<String>,
        grace_seconds: Option<i64>,
    ) -> Option<keyward_core::model::AutoRotate> {
        webhook_id.map(|webhook_id| keyward_core::model::AutoRotate {
            webhook_id,
            grace_period_seconds: grace_seconds.and_then(|seconds| u32::try_from(seconds).ok()).unwrap_or(0),
        })
    }

    /// A stored reason for disabling.
    pub fn disabled_reason(text: Option<&str>) -> Result<Option<keyward_core::model::DisabledReason>, StoreError> {
        text.map(|text| text.parse().map_err(|_| StoreError::Corrupt(format!("unknown disabling reason {text:?}"))))
            .transpose()
    }

    /// A stored role name.
    pub fn role(text: &str) -> Result<keyward_core::role::Role, StoreError> {
        text.parse().map_err(|_| StoreError::Corrupt(format!("unknown role {text:?}")))
    }

    /// `(id, email, password_hash, created_at)` as stored.
    pub type UserRow = (String, String, String, i64);
    /// `(org_id, user_id, email, role, joined_at)` as stored.
    pub type MemberRow = (String, String, String, String, i64);
    /// `(id, org_id, email, role, created_at, created_by, expires_at, accepted_at)` as stored.
    pub type InvitationRow = (String, String, String, String, i64, String, i64, Option<i64>);
    /// `(id, user_id, org_id, created_at, expires_at, password_confirmed_at)` as stored.
    pub type SessionRow = (String, String, String, i64, i64, i64);
    /// `(id, org_id, name, created_at, created_by)` as stored.
    pub type ServiceAccountRow = (String, String, String, i64, String);

    /// Column lists in the order of the row tuples above.
    pub const USER_COLUMNS: &str = "id, email, password_hash, created_at";
    /// Members are memberships joined with users (`m` and `u`).
    pub const MEMBER_COLUMNS: &str = "m.org_id, m.user_id, u.email, m.role, m.joined_at";
    /// Invitation columns.
    pub const INVITATION_COLUMNS: &str = "id, org_id, email, role, created_at, created_by, expires_at, accepted_at";
    /// Session columns.
    pub const SESSION_COLUMNS: &str =
        "id, user_id, org_id, created_at, expires_at, COALESCE(password_confirmed_at, created_at)";
    /// Service account columns.
    pub const SERVICE_ACCOUNT_COLUMNS: &str = "id, org_id, name, created_at, created_by";

    /// A stored user.
    pub fn user((id, email, password_hash, created_at): UserRow) -> keyward_core::model::User {
        keyward_core::model::User { id, email, password_hash, created_at: time(created_at) }
    }

    /// A stored membership.
    pub fn member(
        (org_id, user_id, email, role_name, joined_at): MemberRow,
    ) -> Result<keyward_core::model::Member, StoreError> {
        Ok(keyward_core::model::Member { org_id, user_id, email, role: role(&role_name)?, joined_at: time(joined_at) })
    }

    /// A stored invitation.
    pub fn invitation(row: InvitationRow) -> Result<keyward_core::model::Invitation, StoreError> {
        let (id, org_id, email, role_name, created_at, created_by, expires_at, accepted_at) = row;
        Ok(keyward_core::model::Invitation {
            id,
            org_id,
            email,
            role: role(&role_name)?,
            created_at: time(created_at),
            created_by,
            expires_at: time(expires_at),
            accepted_at: optional_time(accepted_at),
        })
    }

    /// A stored session.
    pub fn session(
        (id, user_id, org_id, created_at, expires_at, password_confirmed_at): SessionRow,
    ) -> keyward_core::model::Session {
        keyward_core::model::Session {
            id,
            user_id,
            org_id,
            created_at: time(created_at),
            expires_at: time(expires_at),
            password_confirmed_at: time(password_confirmed_at),
        }
    }

    /// A stored service account.
    pub fn service_account(
        (id, org_id, name, created_at, created_by): ServiceAccountRow,
    ) -> keyward_core::model::ServiceAccount {
        keyward_core::model::ServiceAccount { id, org_id, name, created_at: time(created_at), created_by }
    }

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

#[cfg(test)]
mod order_tests {
    use super::{TokenOrder, TokenSortKey};

    #[test]
    fn orders_round_trip_through_their_wire_names() {
        for name in TokenOrder::NAMES {
            for text in [name.to_owned(), format!("-{name}")] {
                let order = TokenOrder::parse(&text).unwrap();
                assert_eq!(order.as_text(), text);
                assert_eq!(order.descending, text.starts_with('-'));
            }
        }
        assert_eq!(TokenOrder::default().as_text(), "-created");
        assert_eq!(TokenOrder::parse("name"), Some(TokenOrder { key: TokenSortKey::Name, descending: false }));
        for garbage in ["", "-", "--created", "Name", "created ", "id"] {
            assert_eq!(TokenOrder::parse(garbage), None, "{garbage:?}");
        }
    }
}
