//! Counting unknown tokens, the one security signal verification itself
//! produces. Failed verifications are never written one by one (a verifier
//! may see millions): [`SprayCounter`] counts them in memory per caller and
//! source for each minute, and only a minute at or above the threshold
//! becomes one `security.token_spraying` event. It lives apart from the
//! other security events so that the verifier can count and report them
//! without accounts, sessions or the management engine.
//!
//! Counts are kept in bounded maps, reset every minute: a flood of distinct
//! keys costs a fixed amount of memory, and what does not fit is still
//! counted, in an overflow bucket.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;

use keyward_core::audit::AuditEntry;
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::AuditEvent;
use keyward_core::SecureRng;
use keyward_store::Store;

use crate::EngineError;

/// Default for [`crate::EngineConfig::token_spraying_threshold`].
pub const DEFAULT_TOKEN_SPRAYING_THRESHOLD: u64 = 100;
/// Distinct callers (verifying tokens or sessions) counted per shard per minute.
const MAX_CALLERS_PER_SHARD: usize = 256;
/// Distinct (caller, source) pairs counted per shard per minute; further
/// sources of a caller count in its "other addresses" bucket.
const MAX_SOURCES_PER_SHARD: usize = 2_048;
const SPRAY_SHARDS: usize = 8;
pub(crate) const MINUTE_MICROS: i64 = 60 * 1_000_000;
/// The organization a burst is counted under when it belongs to the
/// installation (bearer tokens nobody issued): resolved to the operator
/// organization when the minute is written. No organization id is empty.
pub(crate) const INSTALLATION: &str = "";
/// The actor recorded for what nobody authenticated did (a failed sign-in).
pub const ANONYMOUS_ACTOR: &str = "anonymous";

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters only: after a panic elsewhere they are still usable.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn minute_of(micros: i64) -> i64 {
    micros.div_euclid(MINUTE_MICROS)
}

/// `1500` as `1,500`, for the one-line summaries.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Where unknown tokens came from, as far as the counter can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// The presenter's address as the verifier gave it, if it did.
    Address(Option<IpAddr>),
    /// Any address beyond what one minute tracks for one caller.
    Others,
}

impl Source {
    fn describe(self) -> String {
        match self {
            Source::Address(Some(ip)) => label(ip),
            Source::Address(None) => "an unknown address".into(),
            Source::Others => "other addresses".into(),
        }
    }
}

/// One (caller, source) count of a finished minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Burst {
    pub org_id: String,
    pub caller: String,
    pub source: Source,
    pub minute: i64,
    pub count: u64,
}

#[derive(Default)]
struct CallerCounts {
    org_id: String,
    sources: HashMap<Option<IpAddr>, u64>,
    others: u64,
}

#[derive(Default)]
struct SprayShard {
    minute: i64,
    callers: HashMap<String, CallerCounts>,
    pairs: usize,
    /// Unknown tokens of callers beyond the cap: logged, not audited (the
    /// organization is not known without a caller entry).
    overflow: u64,
    closed: Vec<Burst>,
}

impl SprayShard {
    fn roll(&mut self, minute: i64) {
        if self.minute == minute {
            return;
        }
        let closed_minute = self.minute;
        for (caller, counts) in self.callers.drain() {
            let bursts = counts
                .sources
                .into_iter()
                .map(|(ip, count)| (Source::Address(ip), count))
                .chain((counts.others > 0).then_some((Source::Others, counts.others)));
            for (source, count) in bursts {
                if self.closed.len() < MAX_SOURCES_PER_SHARD + MAX_CALLERS_PER_SHARD {
                    let org_id = counts.org_id.clone();
                    self.closed.push(Burst { org_id, caller: caller.clone(), source, minute: closed_minute, count });
                }
            }
        }
        if self.overflow > 0 {
            tracing::warn!(
                unknown_tokens = self.overflow,
                "unknown tokens presented through more verifying callers than tracked in one minute"
            );
        }
        self.pairs = 0;
        self.overflow = 0;
        self.minute = minute;
    }
}

/// Unknown tokens presented per caller, source and minute, in memory. A
/// failure costs one hash and one short lock of the caller's shard; a
/// success costs nothing.
pub(crate) struct SprayCounter {
    shards: Box<[Mutex<SprayShard>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for SprayCounter {
    fn default() -> Self {
        Self {
            shards: (0..SPRAY_SHARDS).map(|_| Mutex::new(SprayShard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl SprayCounter {
    fn shard(&self, caller: &str) -> &Mutex<SprayShard> {
        let index = usize::try_from(self.hasher.hash_one(caller) % SPRAY_SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }

    /// Counts one unknown token `caller` (of `org`) was shown from `ip`.
    pub(crate) fn note(&self, org: &str, caller: &str, ip: Option<IpAddr>, now: i64) {
        let ip = ip.map(counted);
        let mut guard = lock(self.shard(caller));
        let shard = &mut *guard;
        shard.roll(minute_of(now));
        if !shard.callers.contains_key(caller) {
            if shard.callers.len() >= MAX_CALLERS_PER_SHARD {
                shard.overflow += 1;
                return;
            }
            let counts = CallerCounts { org_id: org.to_owned(), ..CallerCounts::default() };
            shard.callers.insert(caller.to_owned(), counts);
        }
        let room_for_pair = shard.pairs < MAX_SOURCES_PER_SHARD;
        let Some(counts) = shard.callers.get_mut(caller) else { return };
        if let Some(count) = counts.sources.get_mut(&ip) {
            *count += 1;
        } else if room_for_pair {
            counts.sources.insert(ip, 1);
            shard.pairs += 1;
        } else {
            counts.others += 1;
        }
    }

    /// The counts of every minute that has ended.
    pub(crate) fn take_closed(&self, now: i64) -> Vec<Burst> {
        let minute = minute_of(now);
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.roll(minute);
            all.append(&mut shard.closed);
        }
        all
    }
}

/// The source an address is counted under: an IPv4 address itself (an
/// IPv4-mapped IPv6 one as IPv4), an IPv6 address as its /64, the block a
/// single host is usually given, so a sprayer cannot stay under the
/// threshold by stepping through the 2^64 addresses of its own network.
pub(crate) fn counted(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(network.into())
            }
        },
    }
}

/// A counted source as the event names it: an IPv4 address, or an IPv6 /64.
fn label(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

/// Writes one `security.token_spraying` event for a minute at or over `threshold`.
pub(crate) async fn write_spraying(
    store: &dyn Store,
    rng: &dyn SecureRng,
    burst: &Burst,
    threshold: u64,
) -> Result<(), EngineError> {
    let start = micros_to_datetime(burst.minute * MINUTE_MICROS);
    let end = micros_to_datetime((burst.minute + 1) * MINUTE_MICROS);
    let source = burst.source.describe();
    let bearer = burst.caller == ANONYMOUS_ACTOR;
    let (presented, presented_to) =
        if bearer { ("unknown bearer tokens", "management API") } else { ("unknown tokens", "verify") };
    let summary = format!("{} {presented} presented from {source} in 60 s", grouped(burst.count));
    let (address, target) = match burst.source {
        Source::Address(Some(ip)) => (Some(label(ip)), label(ip)),
        Source::Address(None) => (None, String::new()),
        Source::Others => (None, "other".to_owned()),
    };
    let org_id = if burst.org_id == INSTALLATION {
        match store.operator_organization().await? {
            Some(operator) => operator.id,
            // Not bootstrapped yet: there is no log to write to.
            None => return Ok(()),
        }
    } else {
        burst.org_id.clone()
    };
    let entry = AuditEntry::TokenSpraying {
        summary: &summary,
        unknown_tokens: burst.count,
        source: &source,
        window_start: start,
        window_end: end,
        window_seconds: 60,
        threshold,
        presented_to,
    };
    let event = AuditEvent {
        id: new_id(IdKind::Event, rng)?,
        org_id,
        occurred_at: end,
        actor: burst.caller.clone(),
        action: entry.action(),
        target_type: "address".to_owned(),
        target_id: target,
        request_id: None,
        source_ip: address,
        details: crate::context::details(&entry)?,
    };
    store.append_audit_event(&event).await?;
    tracing::warn!(caller = %burst.caller, count = burst.count, %source, "token spraying: {summary}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // On a minute boundary.
    const T0: i64 = 31_666_666 * MINUTE_MICROS;

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn a_minute_is_reported_once_it_has_ended() {
        let counter = SprayCounter::default();
        for _ in 0..1500 {
            counter.note("org_a", "tok_caller", ip("203.0.113.9"), T0 + 5);
        }
        counter.note("org_a", "tok_caller", None, T0 + 6);
        assert!(counter.take_closed(T0 + MINUTE_MICROS - 1).is_empty(), "the minute is still running");
        let mut closed = counter.take_closed(T0 + MINUTE_MICROS);
        closed.sort_by_key(|burst| burst.count);
        let counts: Vec<_> = closed.iter().map(|burst| (burst.source, burst.count)).collect();
        assert_eq!(counts, [(Source::Address(None), 1), (Source::Address(ip("203.0.113.9")), 1500)]);
        assert!(closed.iter().all(|burst| burst.org_id == "org_a" && burst.minute == minute_of(T0)));
        assert!(counter.take_closed(T0 + 2 * MINUTE_MICROS).is_empty(), "reported once");
    }

    #[test]
    fn distinct_sources_are_bounded_and_overflow_is_still_counted() {
        let counter = SprayCounter::default();
        let total = MAX_SOURCES_PER_SHARD + 500;
        for n in 0..total {
            let address = IpAddr::from(u32::try_from(n).unwrap_or(0).to_be_bytes());
            counter.note("org_a", "tok_caller", Some(address), T0);
        }
        let closed = counter.take_closed(T0 + MINUTE_MICROS);
        assert_eq!(closed.len(), MAX_SOURCES_PER_SHARD + 1, "tracked sources and one overflow bucket");
        let others: Vec<_> = closed.iter().filter(|burst| burst.source == Source::Others).collect();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].count, 500);
        assert_eq!(closed.iter().map(|burst| burst.count).sum::<u64>(), total as u64, "nothing lost");
    }

    #[test]
    fn an_ipv6_sprayer_is_counted_per_64_and_a_mapped_ipv4_as_ipv4() {
        let counter = SprayCounter::default();
        for n in 0..300u16 {
            let address = format!("2001:db8:aa:bb:{n:x}::{n:x}");
            counter.note("org_a", "tok_caller", ip(&address), T0);
        }
        counter.note("org_a", "tok_caller", ip("::ffff:203.0.113.9"), T0);
        let mut closed = counter.take_closed(T0 + MINUTE_MICROS);
        closed.sort_by_key(|burst| burst.count);
        let counts: Vec<(String, u64)> = closed.iter().map(|b| (b.source.describe(), b.count)).collect();
        assert_eq!(counts, [("203.0.113.9".to_owned(), 1), ("2001:db8:aa:bb::/64".to_owned(), 300)]);
    }
}
