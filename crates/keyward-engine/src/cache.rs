//! The verification cache: token records by digest, and a short-lived
//! negative cache for digests the store does not know.
//!
//! Layout is the performance story. With a million tokens every lookup is a
//! cache miss of a few hundred nanoseconds, so a verification must touch as
//! few cache lines as possible. Each entry is exactly one 64-byte line: the
//! digest, the one number a verification compares (`valid_until`), the usage
//! counters, and a pointer to the full record. A verdict that only needs
//! "valid or not" never leaves that line; the record behind the pointer is
//! read only when the caller asks for it (see `Engine::verify_with`).
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
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hashbrown::HashTable;
use keyward_core::clock::micros_to_datetime;
use keyward_core::model::TokenRecord;
use keyward_core::TokenDigest;
use keyward_store::UsageDelta;

const SHARDS: usize = 64;

/// Uses past this many pending uses are moved out of the slot at once, so
/// the 32-bit counter never wraps, however long a flush is delayed.
const PENDING_USES_SPILL: u32 = 1 << 31;

/// A cached token: 32 bytes, half of its entry's cache line.
#[derive(Debug)]
pub struct Slot {
    /// The verification is valid while `now < valid_until` (microseconds):
    /// the expiry, `i64::MAX` for never, `i64::MIN` once revoked. Why a
    /// token is invalid is read from the record, off the hot path.
    pub valid_until: i64,
    /// Latest verification since the last flush, in microseconds.
    last_used_micros: AtomicI64,
    /// Verifications since the last flush. The 0 → 1 step queues the digest
    /// for the flusher, so the queue needs no flag of its own.
    pending_uses: AtomicU32,
    /// Whether it belongs to its organization's management keyspace.
    pub management: bool,
    /// Whether it has an IP allowlist (then the record is read to check it).
    pub ip_restricted: bool,
    /// The record as last read from the store.
    pub record: Arc<TokenRecord>,
}

impl Slot {
    pub fn new(record: TokenRecord) -> Self {
        let valid_until = if record.revoked_at.is_some() {
            i64::MIN
        } else {
            record.expires_at.map_or(i64::MAX, |at| at.timestamp_micros())
        };
        Self {
            valid_until,
            last_used_micros: AtomicI64::new(i64::MIN),
            pending_uses: AtomicU32::new(0),
            management: record.management,
            ip_restricted: !record.allowed_ips.is_empty(),
            record: Arc::new(record),
        }
    }

    /// Takes the pending usage, if any, as a delta for the store.
    pub fn take_usage(&self) -> Option<UsageDelta> {
        let uses = self.pending_uses.swap(0, Ordering::AcqRel);
        (uses > 0).then(|| UsageDelta {
            token_id: self.record.id.clone(),
            uses: u64::from(uses),
            last_used_at: micros_to_datetime(self.last_used_micros.load(Ordering::Acquire)),
        })
    }
}

/// One cache line: the key and its slot.
#[repr(C, align(64))]
struct Entry {
    digest: TokenDigest,
    slot: Slot,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 64);

/// The digest's first eight bytes (see the module docs).
#[inline]
fn hash_of(digest: &TokenDigest) -> u64 {
    let bytes = digest.as_bytes();
    u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

#[inline]
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Both caches, the usage queue and the epoch that keeps them honest.
pub struct TokenCache {
    positive: Vec<RwLock<HashTable<Entry>>>,
    negative: Vec<RwLock<HashMap<TokenDigest, i64, RandomState>>>,
    shard_capacity: usize,
    negative_shard_capacity: usize,
    epoch: AtomicU64,
    negative_ttl_micros: i64,
    usage_queue: Mutex<Vec<TokenDigest>>,
    /// Usage of entries that left the cache (or spilled) before a flush took it.
    orphaned_usage: Mutex<Vec<UsageDelta>>,
}

impl TokenCache {
    pub fn new(capacity: usize, negative_capacity: usize, negative_ttl_micros: i64) -> Self {
        Self {
            positive: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
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
        read(&self.positive[shard_of(digest)])
            .find(hash_of(digest), |entry| entry.digest == *digest)
            .map(|entry| inspect(&entry.slot))
    }

    /// Counts one use of `slot` (reached through `with_slot`).
    #[inline]
    pub fn record_use(&self, digest: &TokenDigest, slot: &Slot, now_micros: i64) {
        if slot.last_used_micros.load(Ordering::Relaxed) < now_micros {
            slot.last_used_micros.fetch_max(now_micros, Ordering::AcqRel);
        }
        let before = slot.pending_uses.fetch_add(1, Ordering::AcqRel);
        if before == 0 {
            lock(&self.usage_queue).push(*digest);
        } else if before >= PENDING_USES_SPILL {
            self.orphan(slot);
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
        let mut table = write(&self.positive[shard_of(&digest)]);
        if self.epoch.load(Ordering::SeqCst) != read_epoch {
            return;
        }
        let hash = hash_of(&digest);
        if let Ok(existing) = table.find_entry(hash, |entry| entry.digest == digest) {
            let (replaced, _) = existing.remove();
            self.orphan(&replaced.slot);
        } else if table.len() >= self.shard_capacity {
            // Evict an arbitrary entry: keys are uniformly random, so the
            // first one in table order is a random one.
            if let Some(victim) = table.iter().next().map(|entry| entry.digest) {
                if let Ok(occupied) = table.find_entry(hash_of(&victim), |entry| entry.digest == victim) {
                    let (evicted, _) = occupied.remove();
                    self.orphan(&evicted.slot);
                }
            }
        }
        table.insert_unique(hash, Entry { digest, slot }, |entry| hash_of(&entry.digest));
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
        let mut table = write(&self.positive[shard_of(digest)]);
        if let Ok(occupied) = table.find_entry(hash_of(digest), |entry| entry.digest == *digest) {
            let (removed, _) = occupied.remove();
            self.orphan(&removed.slot);
        }
    }

    fn orphan(&self, slot: &Slot) {
        if let Some(delta) = slot.take_usage() {
            lock(&self.orphaned_usage).push(delta);
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
        let queue = std::mem::take(&mut *lock(&self.usage_queue));
        let mut deltas = std::mem::take(&mut *lock(&self.orphaned_usage));
        for digest in queue {
            if let Some(Some(delta)) = self.with_slot(&digest, Slot::take_usage) {
                deltas.push(delta);
            }
        }
        deltas
    }

    /// Puts deltas back after a failed flush, so no count is lost.
    pub fn restore_usage(&self, deltas: Vec<UsageDelta>) {
        lock(&self.orphaned_usage).extend(deltas);
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
            org_id: "org_x".into(),
            management: false,
            keyspace_id: "ks".into(),
            name: "n".into(),
            owner: "o".into(),
            scopes: vec![],
            allowed_ips: vec![],
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
            cache.insert_found(*digest, Slot::new(record(&format!("tok_{n}"))), cache.epoch());
            cache.with_slot(digest, |slot| cache.record_use(digest, slot, 5));
        }
        assert!(cache.len() <= SHARDS * 2, "bounded: {}", cache.len());
        let deltas = cache.drain_usage();
        assert_eq!(deltas.iter().map(|d| d.uses).sum::<u64>(), digests.len() as u64, "no use lost to eviction");
        assert!(cache.drain_usage().is_empty());
    }

    #[test]
    fn a_counter_near_its_limit_spills_instead_of_wrapping() {
        let cache = TokenCache::new(100, 10, 1);
        let digest = TokenDigest::of("busy");
        cache.insert_found(digest, Slot::new(record("tok_busy")), cache.epoch());
        cache.with_slot(&digest, |slot| {
            cache.record_use(&digest, slot, 7);
            slot.pending_uses.store(PENDING_USES_SPILL, Ordering::Release);
            cache.record_use(&digest, slot, 8);
        });
        let deltas = cache.drain_usage();
        assert_eq!(deltas.iter().map(|d| d.uses).sum::<u64>(), u64::from(PENDING_USES_SPILL) + 1);
        assert!(cache.drain_usage().is_empty());
    }

    #[test]
    fn an_insert_racing_an_invalidation_never_appears() {
        let cache = TokenCache::new(100, 10, 1_000_000);
        let digest = TokenDigest::of("t");
        let before = cache.epoch();
        cache.invalidate(&digest);
        cache.insert_found(digest, Slot::new(record("tok_1")), before);
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
