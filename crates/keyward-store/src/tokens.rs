//! The token half of the contract: issuing, listing, changing, revoking,
//! rotating and retiring tokens, with the query types those calls take.
//! Kept apart from accounts and webhooks so a new token capability lands
//! in one file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, DisabledReason, RevokedReason, TokenRecord, TokenState};
use keyward_core::TokenDigest;

use crate::{Cursor, Page, PageRequest, StoreError};

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
    /// Only the token created by the request with this idempotency key.
    pub idempotency_key: Option<String>,
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
            TokenSortKey::LastUsed => token.usage.last_used_at.map_or(NEVER_USED, |at| at.timestamp_micros()),
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

/// What a bulk revocation did.
#[derive(Debug, Clone)]
pub enum BulkRevocation {
    /// Revoked, each with its audit event; the tokens after the change.
    Revoked(Vec<StoredToken>),
    /// Nothing written: the tokens matching now are not as many as the
    /// caller expected (it decided on an earlier count).
    CountChanged(u64),
}

/// Makes the audit event for one token revoked as a consequence of another
/// change (a member or service account removed), so the store can revoke
/// every matching token in the same transaction and still log each one.
pub type RevocationEvent<'a> = &'a (dyn Fn(&TokenRecord) -> Result<AuditEvent, StoreError> + Send + Sync);

/// Tokens: their records, their states and their lineage.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// How many tokens `owner` holds in `org` that are active at `now`.
    async fn count_active_tokens(&self, org: &str, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError>;

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
