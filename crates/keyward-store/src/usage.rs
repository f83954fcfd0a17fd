//! What verifications leave behind: use counts, daily totals, client
//! sightings and samples. Written in batches off the request path, so it
//! has a contract of its own, apart from the token records it counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreError;

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

/// Usage of tokens, recorded in batches and read back for their pages.
#[async_trait]
pub trait UsageStore: Send + Sync {
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
}
