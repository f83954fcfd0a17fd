//! The guards of signing in, apart from the accounts service so the engine
//! can hold them without importing it: throttling of failed attempts, and
//! Argon2id hashing at OWASP's parameters (19 MiB, two passes, one lane)
//! under a bound on how many run at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use keyward_core::SecureRng;
use keyward_store::StoreError;

use crate::EngineError;

/// Sign-in throttling that slows guessing without locking anyone out.
///
/// Failures are counted in fixed 15-minute windows under three keys: the
/// account from one address (5), one address across accounts (30), and the
/// account from anywhere (50). The account-wide limit, the one an attacker
/// could trip on purpose, is waived for addresses the account signed in
/// from successfully in the last 30 days, so its owner still gets in from
/// their usual place while an attacker elsewhere is slowed. State is per
/// instance and bounded; when full, expired windows are dropped first.
pub(crate) struct SignInThrottle {
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    failures: HashMap<String, (i64, u32)>,
    known: HashMap<(String, IpAddr), i64>,
}

const WINDOW_MICROS: i64 = 15 * 60 * 1_000_000;
const KNOWN_MICROS: i64 = 30 * 24 * 3600 * 1_000_000;
const PAIR_LIMIT: u32 = 5;
const ADDRESS_LIMIT: u32 = 30;
const ACCOUNT_LIMIT: u32 = 50;
const MAX_TRACKED: usize = 100_000;

impl SignInThrottle {
    pub(crate) fn new() -> Self {
        Self { state: Mutex::new(ThrottleState::default()) }
    }

    fn keys(email: &str, ip: Option<IpAddr>) -> [(String, u32); 3] {
        let address = ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        [
            (format!("pair\0{email}\0{address}"), PAIR_LIMIT),
            (format!("address\0{address}"), ADDRESS_LIMIT),
            (format!("account\0{email}"), ACCOUNT_LIMIT),
        ]
    }

    /// `Err(seconds)` to wait when a limit is reached.
    pub(crate) fn check(&self, email: &str, ip: Option<IpAddr>, now: i64) -> Result<(), u64> {
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let known =
            ip.and_then(|ip| state.known.get(&(email.to_owned(), ip))).is_some_and(|at| now - at < KNOWN_MICROS);
        for (key, limit) in Self::keys(email, ip) {
            if known && key.starts_with("account\0") {
                continue;
            }
            if let Some((started, count)) = state.failures.get(&key) {
                if now - started < WINDOW_MICROS && *count >= limit {
                    let wait = (started + WINDOW_MICROS - now + 999_999) / 1_000_000;
                    return Err(u64::try_from(wait).unwrap_or(1).max(1));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn record_failure(&self, email: &str, ip: Option<IpAddr>, now: i64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.failures.len() >= MAX_TRACKED {
            state.failures.retain(|_, (started, _)| now - *started < WINDOW_MICROS);
        }
        for (key, _) in Self::keys(email, ip) {
            if state.failures.len() >= MAX_TRACKED && !state.failures.contains_key(&key) {
                continue;
            }
            let entry = state.failures.entry(key).or_insert((now, 0));
            if now - entry.0 >= WINDOW_MICROS {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
    }

    pub(crate) fn record_success(&self, email: &str, ip: Option<IpAddr>, now: i64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let [(pair, _), ..] = Self::keys(email, ip);
        state.failures.remove(&pair);
        if let Some(ip) = ip {
            if state.known.len() >= MAX_TRACKED {
                state.known.retain(|_, at| now - *at < KNOWN_MICROS);
            }
            if state.known.len() < MAX_TRACKED {
                state.known.insert((email.to_owned(), ip), now);
            }
        }
    }
}

/// At most this many Argon2 computations run at once (19 MiB each).
const CONCURRENT_HASHES: usize = 4;

/// A hash of a password nobody knows, verified against when the account
/// does not exist, so a miss costs what a wrong password costs.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        // Cannot fail for a constant 18-byte salt; an empty decoy would make
        // unknown accounts fail loudly rather than quietly fast.
        SaltString::encode_b64(b"keyward-decoy-salt")
            .and_then(|salt| {
                Argon2::default().hash_password(b"decoy password, never a real one", &salt).map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
}

/// Argon2 hashing on blocking threads, at most [`CONCURRENT_HASHES`] at
/// once, so a flood of sign-ins cannot exhaust memory.
pub(crate) struct Passwords {
    permits: tokio::sync::Semaphore,
}

impl Passwords {
    pub(crate) fn new() -> Self {
        Self { permits: tokio::sync::Semaphore::new(CONCURRENT_HASHES) }
    }

    /// A new Argon2id hash of `password`, salted from `rng`.
    pub(crate) async fn hash(&self, rng: &dyn SecureRng, password: &str) -> Result<String, EngineError> {
        let mut salt_bytes = [0u8; 16];
        rng.fill(&mut salt_bytes)?;
        let password = password.to_owned();
        let _permit = self.permits.acquire().await.map_err(|_| hashing_failed("hash permits closed"))?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| hashing_failed(&e.to_string()))?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| hashing_failed(&e.to_string()))
        })
        .await
        .map_err(|e| hashing_failed(&e.to_string()))?
    }

    /// Verifies against `hash`, or against a decoy when there is no user.
    pub(crate) async fn matches(&self, hash: Option<&str>, password: &str) -> Result<bool, EngineError> {
        let hash = hash.map_or_else(|| decoy_hash().to_owned(), str::to_owned);
        let password = password.to_owned();
        let _permit = self.permits.acquire().await.map_err(|_| hashing_failed("hash permits closed"))?;
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| hashing_failed(&e.to_string()))?;
            Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| hashing_failed(&e.to_string()))?
    }
}

fn hashing_failed(why: &str) -> EngineError {
    EngineError::Store(StoreError::Backend(Box::new(std::io::Error::other(format!("password hashing failed: {why}")))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60 * 1_000_000;

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn one_address_guessing_one_account_waits_out_the_window() {
        let throttle = SignInThrottle::new();
        let attacker = ip("203.0.113.9");
        for _ in 0..PAIR_LIMIT {
            assert_eq!(throttle.check("ada@example.com", attacker, 0), Ok(()));
            throttle.record_failure("ada@example.com", attacker, 0);
        }
        assert_eq!(throttle.check("ada@example.com", attacker, MINUTE), Err(14 * 60));
        assert_eq!(throttle.check("bob@example.com", attacker, MINUTE), Ok(()), "other accounts from it still try");
        assert_eq!(throttle.check("ada@example.com", ip("198.51.100.1"), MINUTE), Ok(()), "the owner elsewhere too");
        assert_eq!(throttle.check("ada@example.com", attacker, 15 * MINUTE), Ok(()), "a new window");
    }

    #[test]
    fn the_account_wide_limit_spares_addresses_the_owner_used() {
        let throttle = SignInThrottle::new();
        let home = ip("198.51.100.7");
        throttle.record_success("ada@example.com", home, 0);
        for n in 0..ACCOUNT_LIMIT {
            throttle.record_failure("ada@example.com", ip(&format!("203.0.113.{}", n % 200)), MINUTE);
        }
        assert!(throttle.check("ada@example.com", ip("192.0.2.1"), 2 * MINUTE).is_err());
        assert_eq!(throttle.check("ada@example.com", home, 2 * MINUTE), Ok(()));
        // Thirty days later home is a stranger again.
        for n in 0..ACCOUNT_LIMIT {
            throttle.record_failure("ada@example.com", ip(&format!("203.0.113.{}", n % 200)), KNOWN_MICROS + MINUTE);
        }
        assert!(throttle.check("ada@example.com", home, KNOWN_MICROS + 2 * MINUTE).is_err());
    }

    #[test]
    fn one_address_spraying_many_accounts_is_slowed() {
        let throttle = SignInThrottle::new();
        let sprayer = ip("203.0.113.50");
        for n in 0..ADDRESS_LIMIT {
            throttle.record_failure(&format!("user{n}@example.com"), sprayer, 0);
        }
        assert!(throttle.check("fresh@example.com", sprayer, 1).is_err());
        assert_eq!(throttle.check("fresh@example.com", ip("203.0.113.51"), 1), Ok(()));
    }
}
