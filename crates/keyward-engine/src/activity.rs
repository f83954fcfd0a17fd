//! What a token's page shows of its use: a sample of recent verifications
//! with their outcome and source, and verifications per day.
//!
//! Counting every verification in the store would cost a write each, so
//! the sample is every denial of a known token (rare, and what an operator
//! looks for) plus at most one success per token per usage flush, noted
//! when its pending count leaves zero. Per-day counts ride on the usage
//! flush itself ([`keyward_store::Store::record_usage`]).

use std::net::IpAddr;
use std::sync::Mutex;

use keyward_core::clock::micros_to_datetime;
use keyward_store::{DailyUsage, VerificationSample};

use crate::grace::truncated;
use crate::verdict::VerifyCode;

/// Samples waiting for the next flush, at most this many: a flood of
/// denials costs a bounded amount of memory, and later ones are dropped.
const MAX_PENDING_SAMPLES: usize = 10_000;

/// Most samples a token's page asks for.
pub const RECENT_VERIFICATIONS: u32 = 20;

/// Samples noted since the last flush, shared by every verification.
#[derive(Debug, Default)]
pub struct VerificationLog {
    pending: Mutex<Vec<VerificationSample>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves a plain list: keep going.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl VerificationLog {
    /// Notes one verification of token `token_id`.
    pub fn note(
        &self,
        token_id: &str,
        at_micros: i64,
        outcome: VerifyCode,
        client_ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) {
        let mut pending = lock(&self.pending);
        if pending.len() >= MAX_PENDING_SAMPLES {
            return;
        }
        pending.push(VerificationSample {
            token_id: token_id.to_owned(),
            at: micros_to_datetime(at_micros),
            outcome: outcome.as_str().to_owned(),
            client_ip: client_ip.map(|ip| keyward_core::ip::canonical(ip).to_string()),
            user_agent: user_agent.map(truncated),
        });
    }

    /// Takes every pending sample.
    pub fn drain(&self) -> Vec<VerificationSample> {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Puts samples back after a failed write, within the bound.
    pub fn restore(&self, samples: Vec<VerificationSample>) {
        let mut pending = lock(&self.pending);
        let room = MAX_PENDING_SAMPLES.saturating_sub(pending.len());
        pending.extend(samples.into_iter().take(room));
    }
}

/// A token's use as its page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenActivity {
    /// Successful verifications per UTC day over the window, oldest first,
    /// one entry per day (zero where there were none).
    pub days: Vec<DailyUsage>,
    /// The newest samples, newest first.
    pub recent: Vec<VerificationSample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_sample_is_bounded_and_survives_a_failed_write() {
        let log = VerificationLog::default();
        let agent = "x".repeat(1_000);
        for at in 0..(MAX_PENDING_SAMPLES as i64 + 5) {
            log.note("tok_1", at, VerifyCode::Revoked, None, Some(&agent));
        }
        let drained = log.drain();
        assert_eq!(drained.len(), MAX_PENDING_SAMPLES, "a flood is cut, not kept");
        assert!(drained[0].user_agent.as_deref().is_some_and(|ua| ua.len() <= crate::grace::MAX_USER_AGENT_CHARS));
        assert_eq!(drained[0].outcome, "REVOKED");
        assert!(log.drain().is_empty());
        log.restore(drained);
        assert_eq!(log.drain().len(), MAX_PENDING_SAMPLES);
    }
}
