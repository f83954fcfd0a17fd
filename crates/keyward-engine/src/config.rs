//! The engine's tunables, apart from the engine, so the shared context
//! and every service can read them without reaching for the engine itself.

use std::time::Duration;

use keyward_core::TokenPrefix;

use crate::verifier::VerifierConfig;

/// Tunables. The defaults suit one instance with up to a few hundred
/// thousand hot tokens.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Prefix for the management keyspace and keyspaces created without one.
    pub default_prefix: TokenPrefix,
    /// How many token records to keep in memory.
    pub cache_capacity: usize,
    /// How many unknown digests to remember.
    pub negative_cache_capacity: usize,
    /// How long an unknown digest is remembered as unknown. Short: it only
    /// blunts repeated lookups of the same garbage.
    pub negative_cache_ttl: Duration,
    /// Whether anyone may sign up and found an organization (the operator's choice).
    pub open_signup: bool,
    /// How long a session lasts after sign-in.
    pub session_lifetime: Duration,
    /// Seals webhook signing secrets at rest; without it no webhook can be registered.
    pub master_key: Option<keyward_core::webhook::MasterKey>,
    /// How long past its expiry a token still verifies, to absorb clock
    /// skew between whoever computed an expiry and this server. Zero by
    /// default: an expiry is exact unless an operator decides otherwise.
    /// Revocation and disabling never get any leeway.
    pub expiry_leeway: Duration,
    /// How long a verification may wait for the store when the token is
    /// not cached (queueing included); past it, the store counts as
    /// unavailable and the caller is told to retry.
    pub store_lookup_budget: Duration,
    /// Store lookups of uncached tokens running at once. A flood of
    /// unknown tokens waits here instead of taking every pooled
    /// connection that management requests need.
    pub store_lookup_concurrency: usize,
    /// Where webhooks may point: by default nowhere loopback, private or
    /// otherwise internal; the operator's `webhook_allowed_networks` opens
    /// ranges. Literal addresses are checked here at registration; the
    /// dispatcher checks every delivery's resolved addresses.
    pub webhook_egress: keyward_core::egress::EgressPolicy,
    /// Unknown tokens one verifying caller may be shown from one source in
    /// a minute before that minute is audited as `security.token_spraying`
    /// (and sent to webhooks). 0 turns the record off.
    pub token_spraying_threshold: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        // One source for the verification defaults: the verifier's own.
        let verifier = VerifierConfig::default();
        Self {
            default_prefix: TokenPrefix::default(),
            cache_capacity: verifier.cache_capacity,
            negative_cache_capacity: verifier.negative_cache_capacity,
            negative_cache_ttl: verifier.negative_cache_ttl,
            open_signup: false,
            session_lifetime: Duration::from_secs(12 * 3600),
            master_key: None,
            expiry_leeway: verifier.expiry_leeway,
            store_lookup_budget: verifier.store_lookup_budget,
            store_lookup_concurrency: verifier.store_lookup_concurrency,
            webhook_egress: keyward_core::egress::EgressPolicy::default(),
            token_spraying_threshold: verifier.token_spraying_threshold,
        }
    }
}

impl EngineConfig {
    /// The part of these settings the verifier uses.
    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            cache_capacity: self.cache_capacity,
            negative_cache_capacity: self.negative_cache_capacity,
            negative_cache_ttl: self.negative_cache_ttl,
            expiry_leeway: self.expiry_leeway,
            store_lookup_budget: self.store_lookup_budget,
            store_lookup_concurrency: self.store_lookup_concurrency,
            token_spraying_threshold: self.token_spraying_threshold,
        }
    }
}
