//! What `/readyz` checks, and the one log line per change of state.
//!
//! Readiness is proven, not assumed: the store must answer a read and
//! commit a write (a full disk or a read-only replica answers reads
//! happily), each within a budget, so a stalled store is a "no" rather
//! than a hung probe. Load balancers poll this every few seconds; the log
//! says why once when readiness is lost and once when it returns, never
//! once per poll.
//!
//! Served over TLS, the presented certificate counts too: past its expiry
//! every client refuses the server, so it is not ready; in its last two
//! weeks the answer carries a warning.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_engine::Engine;

use crate::tls::{Certificates, Expiry};

/// How long each check may take before it counts as failed.
pub const CHECK_BUDGET: Duration = Duration::from_secs(2);

/// A check that failed, for the problem document and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// Stable code: `store_unreadable`, `store_unwritable`,
    /// `certificate_expired`.
    pub code: &'static str,
    /// What an operator reads.
    pub detail: &'static str,
    /// The cause, for the log only.
    pub cause: String,
}

/// The last answer, so that only changes are logged.
#[derive(Debug, Default)]
pub struct Readiness {
    failing: Mutex<Option<(Instant, &'static str, u64)>>,
    /// The certificates presented, when serving TLS.
    certificates: Option<Arc<Certificates>>,
}

impl Readiness {
    /// Readiness that also judges the certificate a TLS listener presents.
    pub fn with_certificates(certificates: Arc<Certificates>) -> Self {
        Self { certificates: Some(certificates), ..Self::default() }
    }

    /// Runs the checks and logs a change of state. Ready answers carry
    /// warnings an operator should act on soon (a certificate about to
    /// expire).
    pub async fn check(&self, engine: &Engine) -> Result<Vec<String>, NotReady> {
        let outcome = run_checks(engine).await;
        let now = engine.clock().now_micros().div_euclid(1_000_000);
        let expiry = self.certificates.as_ref().and_then(|certificates| certificates.expiry(now));
        let outcome = match (outcome, expiry) {
            (Ok(()), Some(Expiry::Expired { not_after })) => Err(NotReady {
                code: "certificate_expired",
                detail: "the TLS certificate presented has expired; renew its files (they are reloaded on change)",
                cause: format!("notAfter {not_after} (Unix seconds)"),
            }),
            (outcome, _) => outcome,
        };
        self.note(&outcome);
        outcome.map(|()| expiry.and_then(|expiry| expiry.warning(now)).into_iter().collect())
    }

    fn note(&self, outcome: &Result<(), NotReady>) {
        let mut failing = self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match (outcome, failing.as_mut()) {
            (Err(not_ready), None) => {
                tracing::error!(code = not_ready.code, cause = %not_ready.cause, "not ready: {}", not_ready.detail);
                *failing = Some((Instant::now(), not_ready.code, 1));
            }
            (Err(not_ready), Some((_, code, polls))) => {
                *polls += 1;
                if *code != not_ready.code {
                    tracing::error!(code = not_ready.code, cause = %not_ready.cause, "still not ready: {}", not_ready.detail);
                    *code = not_ready.code;
                }
            }
            (Ok(()), Some((since, code, polls))) => {
                tracing::info!(
                    after = ?since.elapsed(),
                    failed_checks = *polls,
                    was = *code,
                    "ready again: the store reads and commits writes, and the certificate (if any) is valid"
                );
                *failing = None;
            }
            (Ok(()), None) => {}
        }
    }
}

async fn run_checks(engine: &Engine) -> Result<(), NotReady> {
    let store = engine.store();
    within(store.ping(), "store_unreadable", "the token store does not answer reads").await?;
    within(store.probe_write(), "store_unwritable", "the token store cannot commit writes (is its disk full?)").await
}

async fn within(
    check: impl std::future::Future<Output = Result<(), keyward_store::StoreError>>,
    code: &'static str,
    detail: &'static str,
) -> Result<(), NotReady> {
    match tokio::time::timeout(CHECK_BUDGET, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(NotReady { code, detail, cause: error.to_string() }),
        Err(_) => Err(NotReady { code, detail, cause: format!("no answer within {CHECK_BUDGET:?}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(code: &'static str) -> Result<(), NotReady> {
        Err(NotReady { code, detail: "d", cause: "c".into() })
    }

    #[test]
    fn only_changes_of_state_are_remembered() {
        let readiness = Readiness::default();
        readiness.note(&Ok(()));
        assert!(readiness.failing.lock().unwrap().is_none());
        readiness.note(&failing("store_unwritable"));
        readiness.note(&failing("store_unwritable"));
        let state = *readiness.failing.lock().unwrap();
        assert_eq!(state.map(|(_, code, polls)| (code, polls)), Some(("store_unwritable", 2)));
        readiness.note(&Ok(()));
        assert!(readiness.failing.lock().unwrap().is_none());
    }
}
