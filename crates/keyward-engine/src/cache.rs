//! The verification cache: token records by digest, and a short-lived
//! negative cache for digests the store does not know.
//!
//! Layout is the performance story. With a million tokens every lookup is a
//! cache miss, so a verification should touch as few places as possible: the
//! map's buckets hold the fields a verification reads (expiry, revocation,
//! management flag) and the usage counters inline, next to the key. The full
//! record sits behind an `Arc` and is only cloned out for the caller.
//!
//! Keys of the positive map are SHA-256 digests of tokens this server
//! generated: uniformly random and not chosen by clients, so the digest's
//! own bytes are the hash. The negative map holds digests of whatever
//! clients send, so it uses a keyed hasher.
//!
//! Correctness under races rests on one counter, the invalidation epoch. A
//! lookup that misses reads the epoch, then the store, then inserts only if,
//! checked under the shard's write lock, the epoch has not moved. A change
//! bumps the epoch after its commit and then removes the entry under the same
//! lock. If the loader's check comes before the bump, its insert is already
//! in the map when the removal takes the lock; if after, it sees the bump and
//! inserts nothing. So a stale record is never visible once the call that
//! changed it has returned. (Inserting first and withdrawing after a second
//! look is not enough: between the two, a stale entry is visible to anyone.)

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use keyward_core::clock::micros_to_datetime;
use keyward_core::model::TokenRecord;
use keyward_core::TokenDigest;
use keyward_store::UsageDelta;

const SHARDS: usize = 64;

/// A cached token. Lives inline in the map's bucket.
#[derive(Debug)]
pub struct Slot {
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
    /// Whether its digest sits in the usage queue.
    pub queued: AtomicBool,
    /// The record as last read from the store.
    pub record: Arc<TokenRecord>,
}

impl Slot {
    pub fn new(record: TokenRecord, management: bool) -> Self {
        Self {
            expires_at_micros: record.expires_at.map_or(i64::MAX, |at| at.timestamp_micros()),
            revoked: record.revoked_at.is_some(),
            management,
            pending_uses: AtomicU64::new(0),
            last_used_micros: AtomicI64::new(i64::MIN),
            queued: AtomicBool::new(false),
            record: Arc::new(record),
        }
    }

    /// Takes the pending usage, if any, as a delta for the store.
    pub fn take_usage(&self) -> Option<UsageDelta> {
        // Clear the flag before taking the count: a verification racing this
        // either lands in the count taken or re-queues the digest.
        self.queued.store(false, Ordering::Release);
        let uses = self.pending_uses.swap(0, Ordering::AcqRel);
        (uses > 0).then(|| UsageDelta {
            token_id: self.record.id.clone(),
            uses,
            last_used_at: micros_to_datetime(self.last_used_micros.load(Ordering::Acquire)),
        })
    }
}

/// Uses a digest's first eight bytes as its hash (see the module docs).
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `TokenDigest` hashes as its 32-byte array: a length prefix, then the bytes.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
            if chunk.len() == 8 {
                return;
            }
        }
    }

    fn write_usize(&mut self, _length: usize) {}
}

type SlotMap = HashMap<TokenDigest, Slot, BuildHasherDefault<DigestHasher>>;

fn shard_of(digest: &TokenDigest) -> usize {
    usize::from(digest.as_bytes()[31]) % SHARDS
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A poisoned lock means a panic elsewhere mid-operation; the map is
    // still structurally sound, so keep serving.
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Both caches, the usage queue and the epoch that keeps them honest.
pub struct TokenCache {
    positive: Vec<RwLock<SlotMap>>,
    negative: Vec<RwLock<HashMap<TokenDigest, i64, RandomState>>>,
    shard_capacity: usize,
    negative_shard_capacity: usize,
    epoch: AtomicU64,
    negative_ttl_micros: i64,
    usage_queue: Mutex<Vec<TokenDigest>>,
    /// Usage of entries that left the cache before a flush took it.
    orphaned_usage: Mutex<Vec<UsageDelta>>,
}

impl TokenCache {
    pub fn new(capacity: usize, negative_capacity: usize, negative_ttl_micros: i64) -> Self {
        Self {
            positive: (0..SHARDS).map(|_| RwLock::new(SlotMap::default())).collect(),
            negative: (0..SHARDS).map(|_| RwLock::new(HashMap::default())).collect(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            negative_shard_capacity: negative_capacity.div_ceil(SHARDS).max(1),
            epoch: AtomicU64::new(0),
            negative_ttl_micros,
            usage_queue: Mutex::new(Vec::new()),
            orphaned_usage: Mutex::new(Vec::new()),
        }
    }

    /// Runs `inspect` on the cached slot, under the shard's read lock.
    #[inline]
    pub fn with_slot<R>(&self, digest: &TokenDigest, inspect: impl FnOnce(&Slot) -> R) -> Option<R> {
        read(&self.positive[shard_of(digest)]).get(digest).map(inspect)
    }

    /// Counts one use of `slot` (reached through `with_slot`).
    #[inline]
    pub fn record_use(&self, digest: &TokenDigest, slot: &Slot, now_micros: i64) {
        slot.pending_uses.fetch_add(1, Ordering::AcqRel);
        if slot.last_used_micros.load(Ordering::Relaxed) < now_micros {
            slot.last_used_micros.fetch_max(now_micros, Ordering::AcqRel);
        }
        if !slot.queued.load(Ordering::Acquire) && !slot.queued.swap(true, Ordering::AcqRel) {
            self.usage_queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(*digest);
        }
    }

    /// Whether `digest` is known to be absent at `now`.
    pub fn known_absent(&self, digest: &TokenDigest, now_micros: i64) -> bool {
        read(&self.negative[shard_of(digest)]).get(digest).is_some_and(|until| *until > now_micros)
    }

    /// The epoch to pass to [`Self::insert_found`] or [`Self::insert_absent`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a record read from the store, unless an invalidation happened
    /// since `read_epoch`.
    pub fn insert_found(&self, digest: TokenDigest, slot: Slot, read_epoch: u64) {
        let mut map = write(&self.positive[shard_of(&digest)]);
        if self.epoch.load(Ordering::SeqCst) != read_epoch {
            return;
        }
        if map.len() >= self.shard_capacity && !map.contains_key(&digest) {
            // Evict an arbitrary entry: keys are uniformly random, so the
            // first one in table order is a random one.
            if let Some(victim) = map.keys().next().copied() {
                if let Some(evicted) = map.remove(&victim) {
                    self.orphan(&evicted);
                }
            }
        }
        if let Some(replaced) = map.insert(digest, slot) {
            self.orphan(&replaced);
        }
    }

    pub fn insert_absent(&self, digest: TokenDigest, now_micros: i64, read_epoch: u64) {
        if self.negative_ttl_micros <= 0 {
            return;
        }
        let mut map = write(&self.negative[shard_of(&digest)]);
        if self.epoch.load(Ordering::SeqCst) != read_epoch {
            return;
        }
        if map.len() >= self.negative_shard_capacity {
            map.retain(|_, until| *until > now_micros);
            if map.len() >= self.negative_shard_capacity {
                map.clear();
            }
        }
        map.insert(digest, now_micros.saturating_add(self.negative_ttl_micros));
    }

    fn remove_positive(&self, digest: &TokenDigest) {
        if let Some(removed) = write(&self.positive[shard_of(digest)]).remove(digest) {
            self.orphan(&removed);
        }
    }

    fn orphan(&self, slot: &Slot) {
        if let Some(delta) = slot.take_usage() {
            self.orphaned_usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(delta);
        }
    }

    /// Forgets everything about `digest`. Call after the store committed a change.
    pub fn invalidate(&self, digest: &TokenDigest) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.remove_positive(digest);
        write(&self.negative[shard_of(digest)]).remove(digest);
    }

    /// Takes every pending usage delta.
    pub fn drain_usage(&self) -> Vec<UsageDelta> {
        let queue = std::mem::take(&mut *self.usage_queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut deltas =
            std::mem::take(&mut *self.orphaned_usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for digest in queue {
            if let Some(Some(delta)) = self.with_slot(&digest, Slot::take_usage) {
                deltas.push(delta);
            }
        }
        deltas
    }

    /// Puts deltas back after a failed flush, so no count is lost.
    pub fn restore_usage(&self, deltas: Vec<UsageDelta>) {
        self.orphaned_usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(deltas);
    }

    pub fn len(&self) -> usize {
        self.positive.iter().map(|shard| read(shard).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::Environment;

    fn record(id: &str) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            keyspace_id: "ks".into(),
            name: "n".into(),
            owner: "o".into(),
            scopes: vec![],
            metadata: serde_json::json!({}),
            environment: Environment::Live,
            prefix: "kw".into(),
            last4: "abcd".into(),
            created_at: micros_to_datetime(0),
            created_by: "s".into(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            use_count: 0,
        }
    }

    #[test]
    fn capacity_is_bounded_and_evicted_usage_is_kept() {
        let cache = TokenCache::new(SHARDS, 10, 1);
        let digests: Vec<TokenDigest> = (0..SHARDS * 4).map(|n| TokenDigest::of(&format!("token {n}"))).collect();
        for (n, digest) in digests.iter().enumerate() {
            cache.insert_found(*digest, Slot::new(record(&format!("tok_{n}")), false), cache.epoch());
            cache.with_slot(digest, |slot| cache.record_use(digest, slot, 5));
        }
        assert!(cache.len() <= SHARDS * 2, "bounded: {}", cache.len());
        let deltas = cache.drain_usage();
        assert_eq!(deltas.iter().map(|d| d.uses).sum::<u64>(), digests.len() as u64, "no use lost to eviction");
        assert!(cache.drain_usage().is_empty());
    }

    #[test]
    fn an_insert_racing_an_invalidation_never_appears() {
        let cache = TokenCache::new(100, 10, 1_000_000);
        let digest = TokenDigest::of("t");
        let before = cache.epoch();
        cache.invalidate(&digest);
        cache.insert_found(digest, Slot::new(record("tok_1"), false), before);
        assert!(cache.with_slot(&digest, |_| ()).is_none());
        cache.insert_absent(digest, 0, before);
        assert!(!cache.known_absent(&digest, 0));
    }

    #[test]
    fn negative_entries_expire() {
        let cache = TokenCache::new(100, 10, 1_000);
        let digest = TokenDigest::of("absent");
        cache.insert_absent(digest, 0, cache.epoch());
        assert!(cache.known_absent(&digest, 999));
        assert!(!cache.known_absent(&digest, 1_000));
    }
}
