//! The verification cache: token records by digest, and a short-lived
//! negative cache for digests the store does not know.
//!
//! Correctness under races rests on one counter, the invalidation epoch. A
//! lookup that misses reads the epoch, reads the store, inserts, then reads
//! the epoch again and withdraws its insert if anything was invalidated
//! meanwhile. A change bumps the epoch after its commit and then removes the
//! entry. Either the loader sees the bump and withdraws, or the bump (and so
//! the removal) comes after the insert: a stale record can never outlive the
//! call that changed it.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use keyward_core::model::TokenRecord;
use keyward_core::TokenDigest;
use quick_cache::sync::Cache;

/// A cached token: its record and its not-yet-flushed usage. The fields a
/// verification reads sit in this one allocation, next to the reference
/// count, so a verification costs one memory access beyond the cache slot;
/// the full record is touched only when scopes must be checked or the caller
/// reads it.
#[derive(Debug)]
pub struct CachedToken {
    /// Expiry in microseconds, `i64::MAX` for never.
    pub expires_at_micros: i64,
    /// Whether it is revoked.
    pub revoked: bool,
    /// Whether it belongs to the management keyspace.
    pub management: bool,
    /// Verifications since the last flush.
    pub pending_uses: AtomicU64,
    /// Latest verification since the last flush, in microseconds.
    pub last_used_micros: AtomicI64,
    /// Whether it sits in the usage ledger's queue.
    pub queued: AtomicBool,
    /// The record as last read from the store.
    pub record: Arc<TokenRecord>,
}

impl CachedToken {
    pub fn new(record: TokenRecord, management: bool) -> Self {
        Self {
            expires_at_micros: record.expires_at.map_or(i64::MAX, |at| at.timestamp_micros()),
            revoked: record.revoked_at.is_some(),
            record: Arc::new(record),
            management,
            pending_uses: AtomicU64::new(0),
            last_used_micros: AtomicI64::new(i64::MIN),
            queued: AtomicBool::new(false),
        }
    }
}

/// Both caches and the epoch that keeps them honest.
pub struct TokenCache {
    positive: Cache<TokenDigest, Arc<CachedToken>>,
    negative: Cache<TokenDigest, i64>,
    epoch: AtomicU64,
    negative_ttl_micros: i64,
}

impl TokenCache {
    pub fn new(capacity: usize, negative_capacity: usize, negative_ttl_micros: i64) -> Self {
        Self {
            positive: Cache::new(capacity.max(1)),
            negative: Cache::new(negative_capacity.max(1)),
            epoch: AtomicU64::new(0),
            negative_ttl_micros,
        }
    }

    #[inline]
    pub fn get(&self, digest: &TokenDigest) -> Option<Arc<CachedToken>> {
        self.positive.get(digest)
    }

    /// Whether `digest` is known to be absent at `now`.
    pub fn known_absent(&self, digest: &TokenDigest, now_micros: i64) -> bool {
        self.negative.get(digest).is_some_and(|until| until > now_micros)
    }

    /// The epoch to pass to [`Self::insert_found`] or [`Self::insert_absent`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub fn insert_found(&self, digest: TokenDigest, entry: Arc<CachedToken>, read_epoch: u64) {
        self.positive.insert(digest, entry);
        if self.epoch.load(Ordering::SeqCst) != read_epoch {
            self.positive.remove(&digest);
        }
    }

    pub fn insert_absent(&self, digest: TokenDigest, now_micros: i64, read_epoch: u64) {
        if self.negative_ttl_micros <= 0 {
            return;
        }
        self.negative.insert(digest, now_micros.saturating_add(self.negative_ttl_micros));
        if self.epoch.load(Ordering::SeqCst) != read_epoch {
            self.negative.remove(&digest);
        }
    }

    /// Forgets everything about `digest`. Call after the store committed a change.
    pub fn invalidate(&self, digest: &TokenDigest) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.positive.remove(digest);
        self.negative.remove(digest);
    }

    pub fn len(&self) -> usize {
        self.positive.len()
    }
}
