//! The engine: one object holding the shared service context, the
//! verifier, and the state of sign-in (throttle, password hashing) and of
//! the security budget. Its operations live in the modules of their
//! concern (`organizations`, `keyspaces`, `tokens`, `accounts`, …) as
//! `impl Engine` blocks over that context; this module only builds it and
//! hands verification to the [`Verifier`].

use std::sync::Arc;
use std::time::Duration;

use keyward_core::{Clock, SecureRng};
use keyward_store::Store;

use crate::config::EngineConfig;
use crate::context::ServiceContext;
use crate::event_budget::EventBudget;
use crate::scope_index::RequiredScopes;
use crate::setup_code::SetupSlot;
use crate::sign_in::{Passwords, SignInThrottle};
use crate::verdict::{Verdict, Verification, VerifyOptions};
use crate::verifier::Verifier;
use crate::EngineError;

/// The token engine. Cheap to share behind an `Arc`.
pub struct Engine {
    /// What every service works with.
    pub(crate) ctx: ServiceContext,
    /// Verification, over the cache every change made here invalidates.
    pub(crate) verifier: Verifier,
    pub(crate) throttle: SignInThrottle,
    pub(crate) passwords: Passwords,
    pub(crate) operator_org: std::sync::OnceLock<String>,
    pub(crate) setup: SetupSlot,
    pub(crate) security_budget: EventBudget,
}

impl Engine {
    /// An engine over `store`. Call [`Engine::load`] (or [`Engine::bootstrap`])
    /// before serving management requests.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, rng: Arc<dyn SecureRng>, config: EngineConfig) -> Self {
        let verifier =
            Verifier::with_config(store.clone(), clock.clone(), config.verifier_config()).with_rng(rng.clone());
        Self {
            ctx: ServiceContext { cache: verifier.cache.clone(), store, clock, rng, config },
            verifier,
            throttle: SignInThrottle::new(),
            passwords: Passwords::new(),
            operator_org: std::sync::OnceLock::new(),
            setup: SetupSlot::default(),
            security_budget: EventBudget::default(),
        }
    }

    /// The verifier inside, for a service that shares it with the engine.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The clock every judgement of "now" uses, so responses agree with verification.
    pub fn clock(&self) -> &dyn Clock {
        self.ctx.clock.as_ref()
    }

    /// The store, for readiness checks.
    pub fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }

    /// Whether the store has been bootstrapped (its operator organization exists).
    pub async fn load(&self) -> Result<bool, EngineError> {
        Ok(self.ctx.store.operator_organization().await?.is_some())
    }

    /// Writes pending usage counts to the store, with what was noted about
    /// rotated tokens (clients in grace, reuse after it) and the security
    /// counters of minutes that have ended (token spraying, events over
    /// budget). Answers how many tokens' counts were written.
    pub async fn flush_usage(&self) -> Result<usize, EngineError> {
        let verified = self.verifier.flush().await;
        let suppressed = self.flush_suppressed().await;
        let counted = verified?;
        suppressed?;
        Ok(counted)
    }

    /// Flushes usage every `interval` until `shutdown` resolves, then once more.
    pub async fn run_usage_flusher(&self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        crate::periodic::every(interval, shutdown, || async {
            if let Err(error) = self.flush_usage().await {
                tracing::warn!(%error, "usage flush failed; counts kept for the next attempt");
            }
        })
        .await;
        if let Err(error) = self.flush_usage().await {
            tracing::error!(%error, "final usage flush failed");
        }
    }

    /// See [`Verifier::watch_shared_changes`].
    pub async fn watch_shared_changes(&self) -> Result<bool, EngineError> {
        self.verifier.watch_shared_changes().await
    }

    /// See [`Verifier::cache_trusted`].
    pub fn cache_trusted(&self) -> bool {
        self.verifier.cache_trusted()
    }

    /// See [`Verifier::cached_tokens`].
    pub fn cached_tokens(&self) -> usize {
        self.verifier.cached_tokens()
    }

    /// See [`Verifier::require_scopes`].
    #[inline]
    pub fn require_scopes(&self, names: Vec<String>) -> RequiredScopes {
        self.verifier.require_scopes(names)
    }

    /// See [`Verifier::verify`].
    pub async fn verify(&self, presented: &str, required_scopes: &[String]) -> Result<Verification, EngineError> {
        self.verifier.verify(presented, required_scopes).await
    }

    /// See [`Verifier::verify_with`].
    #[inline]
    pub async fn verify_with<R>(
        &self,
        presented: &str,
        options: &VerifyOptions<'_>,
        inspect: impl Fn(Verdict<'_>) -> R,
    ) -> Result<R, EngineError> {
        self.verifier.verify_with(presented, options, inspect).await
    }
}
