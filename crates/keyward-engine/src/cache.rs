//! The verification cache: token records by digest, and a short-lived
//! negative cache for digests the store does not know.
//!
//! Layout is the performance story. With a million tokens every lookup is a
//! cache miss of a few hundred nanoseconds, so a verification must touch as
//! few cache lines as possible. Each entry is two adjacent 64-byte lines.
//! The first holds the digest, the one number a verification compares
//! (`valid_until`), the usage counters and a pointer to the full record; a
//! verdict that only needs "valid or not" never leaves it, nor does a scope
//! check of a token with up to four scopes (they are interned to small
//! numbers, see `scope_index`). The second holds eight more scope numbers,
//! up to two allowlist networks and the record pointer, so scope and IP
//! checks stay off the record too.
//! The record is read only when the caller asks for it (see
//! `Verifier::verify_with`), or for a token with more scopes or networks than
//! fit inline.
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
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use hashbrown::HashTable;
use keyward_core::clock::micros_to_datetime;
use keyward_core::ip::{self, IpNet};
use keyward_core::model::TokenRecord;
use keyward_core::{scope, TokenDigest};
use keyward_store::{ChangeSink, UsageDelta};

use crate::actor::RoleGrant;
use crate::scope_index::{RequiredScopes, ScopeInterner};

const SHARDS: usize = 64;

/// Uses past this many pending uses are moved out of the slot at once, so
/// the 32-bit counter never wraps, however long a flush is delayed.
const PENDING_USES_SPILL: u32 = 1 << 31;

/// Most scopes kept inline; a token with more is checked from its record.
const INLINE_SCOPES: usize = 12;
/// Most allowlist networks kept inline.
const INLINE_NETWORKS: usize = 2;
/// `scope_count` / `network_count` when the list lives only in the record.
const IN_RECORD: u8 = u8::MAX;

/// A cached token: 96 bytes, the rest of its entry after the digest. Field
/// order is layout: everything up to the fourth scope number shares the
/// digest's cache line, so a verdict, and a scope check of a token with up to
/// four scopes, reads that one line.
#[derive(Debug)]
#[repr(C)]
pub struct Slot {
    /// The verification is valid while `now < valid_until` (microseconds):
    /// the expiry, `i64::MAX` for never, `i64::MIN` once revoked or while
    /// disabled. Why a token is invalid is read from the record, off the
    /// hot path.
    pub valid_until: i64,
    /// Latest verification since the last flush, in microseconds.
    last_used_micros: AtomicI64,
    /// Verifications since the last flush. The 0 → 1 step queues the digest
    /// for the flusher, so the queue needs no flag of its own.
    pending_uses: AtomicU32,
    /// Whether it belongs to its organization's management keyspace.
    pub management: bool,
    /// How many of `scope_numbers` are used, or [`IN_RECORD`].
    scope_count: u8,
    /// How many of `networks` are used (0: no allowlist), or [`IN_RECORD`].
    network_count: u8,
    /// Whether it has been rotated and not revoked, so is in (or past) its
    /// grace period: its valid uses note who still uses it.
    pub replaced: bool,
    /// The token's scopes as interned numbers (see `scope_index`).
    scope_numbers: [u16; INLINE_SCOPES],
    /// The record as last read from the store.
    pub record: Arc<CachedRecord>,
    /// Network addresses as (high, low) halves; IPv4 in the low 32 bits.
    networks: [[u64; 2]; INLINE_NETWORKS],
    prefix_lengths: [u8; INLINE_NETWORKS],
    /// Bit `n` set: `networks[n]` is IPv4.
    ipv4_networks: u8,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 96);

/// A cached token's record, and a rendering of it a caller made once.
///
/// The record never changes while cached (a change replaces the entry), so
/// whatever is derived from the record alone, such as the token's fields of
/// a verification answer, can be made on first use and reused by every
/// later verification of this version. It lives beside the record, in the
/// same allocation, so the slot keeps its size.
#[derive(Debug)]
pub struct CachedRecord {
    record: TokenRecord,
    rendering: OnceLock<Box<[u8]>>,
}

impl CachedRecord {
    pub(crate) fn new(record: TokenRecord) -> Self {
        Self { record, rendering: OnceLock::new() }
    }

    /// The rendering kept with this version of the record: filled by the
    /// first caller that asks, from the record alone.
    pub fn rendering(&self) -> &OnceLock<Box<[u8]>> {
        &self.rendering
    }
}

impl std::ops::Deref for CachedRecord {
    type Target = TokenRecord;

    fn deref(&self) -> &TokenRecord {
        &self.record
    }
}

impl PartialEq for CachedRecord {
    /// Two versions are equal when their records are: a rendering is derived.
    fn eq(&self, other: &Self) -> bool {
        self.record == other.record
    }
}

/// An address as (bits, is IPv4), IPv4-mapped IPv6 taken as the IPv4 it carries.
#[inline]
fn address_bits(address: IpAddr) -> (u128, bool) {
    match ip::canonical(address) {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
        IpAddr::V6(v6) => (u128::from(v6), false),
    }
}

impl Slot {
    pub fn new(record: TokenRecord, interner: &ScopeInterner) -> Self {
        let valid_until = if record.is_revoked() || record.is_disabled() {
            i64::MIN
        } else {
            record.expires_at.map_or(i64::MAX, |at| at.timestamp_micros())
        };
        let mut scope_numbers = [0; INLINE_SCOPES];
        let scope_count = Self::inline_scopes(&record.scopes, interner, &mut scope_numbers).unwrap_or(IN_RECORD);
        let mut networks = [[0; 2]; INLINE_NETWORKS];
        let mut prefix_lengths = [0; INLINE_NETWORKS];
        let mut ipv4_networks = 0;
        let network_count = if record.allowed_ips.len() > INLINE_NETWORKS {
            IN_RECORD
        } else {
            for (at, network) in record.allowed_ips.iter().enumerate() {
                // The network's own family, never canonicalized: an IPv6 network
                // over mapped addresses does not match IPv4 clients (as in `ip::allows`).
                let (bits, ipv4) = match network {
                    IpNet::V4(v4) => (u128::from(u32::from(v4.network())), true),
                    IpNet::V6(v6) => (u128::from(v6.network()), false),
                };
                // Split in halves: a u128 field would align the slot to 16
                // bytes and push the scope numbers off the first cache line.
                networks[at] = [(bits >> 64) as u64, bits as u64];
                prefix_lengths[at] = network.prefix_len();
                if ipv4 {
                    ipv4_networks |= 1 << at;
                }
            }
            u8::try_from(record.allowed_ips.len()).unwrap_or(IN_RECORD)
        };
        Self {
            valid_until,
            replaced: record.is_replaced() && !record.is_revoked(),
            last_used_micros: AtomicI64::new(i64::MIN),
            pending_uses: AtomicU32::new(0),
            management: record.management,
            scope_count,
            network_count,
            scope_numbers,
            record: Arc::new(CachedRecord::new(record)),
            networks,
            prefix_lengths,
            ipv4_networks,
        }
    }

    fn inline_scopes(scopes: &[String], interner: &ScopeInterner, numbers: &mut [u16; INLINE_SCOPES]) -> Option<u8> {
        if scopes.len() > INLINE_SCOPES {
            return None;
        }
        for (at, held) in scopes.iter().enumerate() {
            numbers[at] = interner.intern(held)?;
        }
        u8::try_from(scopes.len()).ok()
    }

    /// Whether the token has an IP allowlist.
    #[inline]
    pub fn ip_restricted(&self) -> bool {
        self.network_count != 0
    }

    /// Whether the allowlist admits `address` (true without an allowlist).
    #[inline]
    pub fn allows_ip(&self, address: IpAddr) -> bool {
        match self.network_count {
            0 => true,
            IN_RECORD => ip::allows(&self.record.allowed_ips, address),
            count => {
                let (bits, ipv4) = address_bits(address);
                (0..usize::from(count)).any(|at| {
                    let network_ipv4 = self.ipv4_networks & (1 << at) != 0;
                    let width: u32 = if network_ipv4 { 32 } else { 128 };
                    let length = u32::from(self.prefix_lengths[at]);
                    let mask =
                        if length == 0 { 0 } else { (u128::MAX >> (128 - width)) & (u128::MAX << (width - length)) };
                    let [high, low] = self.networks[at];
                    let network = (u128::from(high) << 64) | u128::from(low);
                    network_ipv4 == ipv4 && (bits ^ network) & mask == 0
                })
            }
        }
    }

    /// Whether the token holds every scope in `required`.
    #[inline]
    pub fn grants(&self, required: &RequiredScopes) -> bool {
        if required.is_empty() {
            return true;
        }
        let inline = match self.scope_count {
            IN_RECORD => None,
            count => required.granted_by(&self.scope_numbers[..usize::from(count)]),
        };
        inline.unwrap_or_else(|| scope::grants_all(&self.record.scopes, required.names()))
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

/// Two cache lines: the key and its slot.
#[repr(C, align(128))]
struct Entry {
    digest: TokenDigest,
    slot: Slot,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 128);
// The first four scope numbers end the digest's line.
const _: () = assert!(32 + std::mem::offset_of!(Slot, scope_numbers) + 4 * 2 == 64);

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
    /// Whether what is cached can be believed: false while a shared store's
    /// change feed is down, when changes made elsewhere may go unheard.
    trusted: AtomicBool,
    /// Numbers for the scope strings cached tokens hold.
    pub(crate) scopes: ScopeInterner,
    positive: Vec<RwLock<HashTable<Entry>>>,
    negative: Vec<RwLock<HashMap<TokenDigest, i64, RandomState>>>,
    shard_capacity: usize,
    negative_shard_capacity: usize,
    epoch: AtomicU64,
    negative_ttl_micros: i64,
    usage_queue: Mutex<Vec<TokenDigest>>,
    /// Usage of entries that left the cache (or spilled) before a flush took it.
    orphaned_usage: Mutex<Vec<UsageDelta>>,
    /// The current role of the person owning a cached management token, so
    /// that authenticating with it needs no database either. Few entries
    /// (people's management tokens in use), dropped with their token's
    /// entry and whenever the owner's membership changes.
    grants: RwLock<HashMap<TokenDigest, OwnerGrant, RandomState>>,
}

/// A cached [`RoleGrant`] and whose it is.
struct OwnerGrant {
    org: String,
    user: String,
    grant: RoleGrant,
}

impl TokenCache {
    pub fn new(capacity: usize, negative_capacity: usize, negative_ttl_micros: i64) -> Self {
        Self {
            trusted: AtomicBool::new(true),
            scopes: ScopeInterner::default(),
            positive: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            negative: (0..SHARDS).map(|_| RwLock::new(HashMap::default())).collect(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            negative_shard_capacity: negative_capacity.div_ceil(SHARDS).max(1),
            epoch: AtomicU64::new(0),
            negative_ttl_micros,
            usage_queue: Mutex::new(Vec::new()),
            orphaned_usage: Mutex::new(Vec::new()),
            grants: RwLock::new(HashMap::default()),
        }
    }

    /// Runs `inspect` on the cached slot, under the shard's read lock.
    #[inline]
    pub fn with_slot<R>(&self, digest: &TokenDigest, inspect: impl FnOnce(&Slot) -> R) -> Option<R> {
        read(&self.positive[shard_of(digest)])
            .find(hash_of(digest), |entry| entry.digest == *digest)
            .map(|entry| inspect(&entry.slot))
    }

    /// Counts one use of `slot` (reached through `with_slot`); answers
    /// whether it is the first since the last flush.
    #[inline]
    pub fn record_use(&self, digest: &TokenDigest, slot: &Slot, now_micros: i64) -> bool {
        if slot.last_used_micros.load(Ordering::Relaxed) < now_micros {
            slot.last_used_micros.fetch_max(now_micros, Ordering::AcqRel);
        }
        let before = slot.pending_uses.fetch_add(1, Ordering::AcqRel);
        if before == 0 {
            lock(&self.usage_queue).push(*digest);
        } else if before >= PENDING_USES_SPILL {
            self.orphan(slot);
        }
        before == 0
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
        write(&self.grants).remove(digest);
    }

    /// The cached role of the person owning the token under `digest`.
    pub fn grant(&self, digest: &TokenDigest) -> Option<RoleGrant> {
        read(&self.grants).get(digest).map(|owner| owner.grant)
    }

    /// Caches `user`'s role in `org` for the token under `digest`, unless
    /// an invalidation happened since `read_epoch` (the same rule as
    /// [`Self::insert_found`], so a role read before a change is never kept
    /// after it).
    pub fn insert_grant(&self, digest: TokenDigest, org: &str, user: &str, grant: RoleGrant, read_epoch: u64) {
        let mut grants = write(&self.grants);
        if self.epoch.load(Ordering::SeqCst) != read_epoch {
            return;
        }
        if grants.len() >= self.shard_capacity {
            grants.clear();
        }
        grants.insert(digest, OwnerGrant { org: org.to_owned(), user: user.to_owned(), grant });
    }

    /// Forgets the cached role of `user` in `org`. Call after the store
    /// committed a change to their membership.
    pub fn invalidate_member(&self, org: &str, user: &str) {
        let mut grants = write(&self.grants);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        grants.retain(|_, owner| owner.org != org || owner.user != user);
    }

    /// Whether lookups may be answered from the cache (see `trusted`).
    #[inline]
    pub fn trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Forgets every token, keeping their pending usage. The epoch moves
    /// first, so no load that read the store before this can insert after.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for shard in &self.positive {
            let mut table = write(shard);
            for entry in table.drain() {
                self.orphan(&entry.slot);
            }
        }
        for shard in &self.negative {
            write(shard).clear();
        }
        write(&self.grants).clear();
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

/// The change feed of a store shared by several instances (see
/// `Verifier::watch_shared_changes`).
impl ChangeSink for TokenCache {
    fn token_changed(&self, digest: &TokenDigest) {
        self.invalidate(digest);
    }

    fn feed_lost(&self) {
        self.trusted.store(false, Ordering::Release);
    }

    fn feed_restored(&self) {
        // Changes made while the feed was down went unheard: start afresh,
        // then trust again.
        self.clear();
        self.trusted.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::model::TokenUsage;
    use keyward_core::Environment;
    use proptest::prelude::{any, prop_oneof, Strategy};

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
            parent_token_id: None,
            expiry_ceiling: None,
            idempotency_key: None,
            expires_at: None,
            revocation: None,
            rotated_from: None,
            replacement: None,
            disabling: None,
            enabled_at: None,
            rotation_period_days: None,
            auto_rotate: None,
            usage: TokenUsage::default(),
        }
    }

    #[test]
    fn capacity_is_bounded_and_evicted_usage_is_kept() {
        let cache = TokenCache::new(SHARDS, 10, 1);
        let digests: Vec<TokenDigest> = (0..SHARDS * 4).map(|n| TokenDigest::of(&format!("token {n}"))).collect();
        for (n, digest) in digests.iter().enumerate() {
            cache.insert_found(*digest, Slot::new(record(&format!("tok_{n}")), &cache.scopes), cache.epoch());
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
        cache.insert_found(digest, Slot::new(record("tok_busy"), &cache.scopes), cache.epoch());
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
        cache.insert_found(digest, Slot::new(record("tok_1"), &cache.scopes), before);
        assert!(cache.with_slot(&digest, |_| ()).is_none());
        cache.insert_absent(digest, 0, before);
        assert!(!cache.known_absent(&digest, 0));
    }

    fn v4_or_v6() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
            // Near 203.0.113.0/24 and 2001:db8::/32, so networks and
            // addresses often overlap, and IPv4 seen through IPv6.
            any::<u8>().prop_map(|last| IpAddr::from([203, 0, 113, last])),
            any::<u16>().prop_map(|tail| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, tail])),
            any::<u8>().prop_map(|last| IpAddr::from(std::net::Ipv4Addr::new(203, 0, 113, last).to_ipv6_mapped())),
        ]
    }

    fn network() -> impl Strategy<Value = IpNet> {
        (v4_or_v6(), 0u8..=128).prop_filter_map("prefix fits the family", |(address, length)| {
            IpNet::new(address, length).ok().map(|network| network.trunc())
        })
    }

    proptest::proptest! {
        #[test]
        fn inline_allowlists_agree_with_the_record(
            networks in proptest::collection::vec(network(), 0..4),
            address in v4_or_v6(),
        ) {
            let cache = TokenCache::new(10, 10, 1);
            let slot = Slot::new(TokenRecord { allowed_ips: networks.clone(), ..record("tok_ip") }, &cache.scopes);
            let expected = networks.is_empty() || ip::allows(&networks, address);
            proptest::prop_assert_eq!(slot.allows_ip(address), expected, "{:?} {}", networks, address);
            proptest::prop_assert_eq!(slot.ip_restricted(), !networks.is_empty());
        }

        #[test]
        fn inline_scopes_agree_with_the_record(
            held in proptest::collection::vec("[ab]:[ab*](@[xy](/[xy*])?)?", 0..15),
            required in proptest::collection::vec("[ab]:[ab*](@[xy](/[xy*])?)?", 0..4),
        ) {
            let cache = TokenCache::new(10, 10, 1);
            let prepared_before = cache.scopes.prepare(required.clone());
            let slot = Slot::new(TokenRecord { scopes: held.clone(), ..record("tok_s") }, &cache.scopes);
            let prepared_after = cache.scopes.prepare(required.clone());
            let expected = scope::grants_all(&held, &required);
            proptest::prop_assert_eq!(slot.grants(&prepared_before), expected);
            proptest::prop_assert_eq!(slot.grants(&prepared_after), expected);
        }
    }

    #[test]
    fn a_restored_feed_starts_from_an_empty_cache_and_keeps_usage() {
        let cache = TokenCache::new(100, 10, 1_000_000);
        let digest = TokenDigest::of("cached");
        let before = cache.epoch();
        cache.insert_found(digest, Slot::new(record("tok_c"), &cache.scopes), before);
        cache.with_slot(&digest, |slot| cache.record_use(&digest, slot, 3));
        cache.feed_lost();
        assert!(!cache.trusted());
        cache.feed_restored();
        assert!(cache.trusted());
        assert_eq!(cache.len(), 0);
        cache.insert_found(digest, Slot::new(record("tok_c"), &cache.scopes), before);
        assert_eq!(cache.len(), 0, "a load begun before the restore never lands");
        assert_eq!(cache.drain_usage().iter().map(|d| d.uses).sum::<u64>(), 1);
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
