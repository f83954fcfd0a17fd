//! The verifier: the token cache, lookup by digest, the verdict, scope and
//! IP checks, and the counting a verification does (usage, samples of
//! denials, clients of rotated tokens, unknown tokens). It is everything a
//! verification needs and nothing else, so a service can embed it with a
//! store and a clock alone: no accounts, sessions or password hashing come
//! with it. The [`crate::Engine`] holds one and verifies through it.
//!
//! The hot path (a cached token) takes one shard read lock and touches the
//! token's cache entry only; everything that writes to the store happens in
//! [`Verifier::flush`], off that path.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use keyward_core::audit::AuditEntry;
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::{AuditEvent, TokenRecord, TokenState};
use keyward_core::{Clock, OsRng, ParsedToken, SecureRng, TokenDigest};
use keyward_store::{ChangeSink, Store, StoreError};
use tokio::sync::Semaphore;

use crate::activity::VerificationLog;
use crate::cache::{Slot, TokenCache};
use crate::grace::{ended_by_rotation, GraceWatch};
use crate::scope_index::RequiredScopes;
use crate::spraying::{write_spraying, SprayCounter, DEFAULT_TOKEN_SPRAYING_THRESHOLD};
use crate::verdict::{Verdict, Verification, VerifyCode, VerifyOptions};
use crate::EngineError;

/// The largest expiry leeway an operator may configure: five minutes.
pub const MAX_EXPIRY_LEEWAY: Duration = Duration::from_secs(300);

/// The verifier's tunables; the defaults suit one instance with up to a
/// few hundred thousand hot tokens. [`crate::EngineConfig`] carries the
/// same settings for a verifier inside an engine.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// How many token records to keep in memory.
    pub cache_capacity: usize,
    /// How many unknown digests to remember.
    pub negative_cache_capacity: usize,
    /// How long an unknown digest is remembered as unknown. Short: it only
    /// blunts repeated lookups of the same garbage.
    pub negative_cache_ttl: Duration,
    /// How long past its expiry a token still verifies, to absorb clock
    /// skew; at most [`MAX_EXPIRY_LEEWAY`]. Revocation and disabling never
    /// get any leeway.
    pub expiry_leeway: Duration,
    /// How long a verification may wait for the store when the token is
    /// not cached (queueing included); past it, the store counts as
    /// unavailable and the caller is told to retry.
    pub store_lookup_budget: Duration,
    /// Store lookups of uncached tokens running at once, so a flood of
    /// unknown tokens cannot take every pooled connection.
    pub store_lookup_concurrency: usize,
    /// Unknown tokens one verifying caller may be shown from one source in
    /// a minute before that minute is audited as `security.token_spraying`.
    /// 0 turns the record off.
    pub token_spraying_threshold: u64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            cache_capacity: 250_000,
            negative_cache_capacity: 100_000,
            negative_cache_ttl: Duration::from_secs(2),
            expiry_leeway: Duration::ZERO,
            store_lookup_budget: Duration::from_secs(1),
            store_lookup_concurrency: 8,
            token_spraying_threshold: DEFAULT_TOKEN_SPRAYING_THRESHOLD,
        }
    }
}

/// Verifies tokens over a store, from memory after the first lookup of
/// each. Cheap to share behind an `Arc`.
pub struct Verifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Only for the ids of the security events a flush writes.
    rng: Arc<dyn SecureRng>,
    pub(crate) cache: Arc<TokenCache>,
    grace: GraceWatch,
    samples: VerificationLog,
    sprays: SprayCounter,
    lookup_permits: Arc<Semaphore>,
    /// [`VerifierConfig::expiry_leeway`], capped, in the unit verdicts use.
    expiry_leeway_micros: i64,
    lookup_budget: Duration,
    spraying_threshold: u64,
}

impl Verifier {
    /// A verifier over `store` with the default settings.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self::with_config(store, clock, VerifierConfig::default())
    }

    /// A verifier over `store` with `config`.
    pub fn with_config(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: VerifierConfig) -> Self {
        let negative_ttl = i64::try_from(config.negative_cache_ttl.as_micros()).unwrap_or(i64::MAX);
        Self {
            store,
            clock,
            rng: Arc::new(OsRng),
            cache: Arc::new(TokenCache::new(config.cache_capacity, config.negative_cache_capacity, negative_ttl)),
            grace: GraceWatch::default(),
            samples: VerificationLog::default(),
            sprays: SprayCounter::default(),
            lookup_permits: Arc::new(Semaphore::new(config.store_lookup_concurrency.max(1))),
            expiry_leeway_micros: i64::try_from(config.expiry_leeway.min(MAX_EXPIRY_LEEWAY).as_micros()).unwrap_or(0),
            lookup_budget: config.store_lookup_budget,
            spraying_threshold: config.token_spraying_threshold,
        }
    }

    /// The same verifier, drawing the ids of the events its flush writes
    /// from `rng` (the operating system's by default).
    pub fn with_rng(mut self, rng: Arc<dyn SecureRng>) -> Self {
        self.rng = rng;
        self
    }

    /// The clock every judgement of "now" uses.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    #[inline]
    fn expiry_leeway_micros(&self) -> i64 {
        self.expiry_leeway_micros
    }

    /// Prepares scopes for [`VerifyOptions::required_scopes`]. Preparing is a
    /// few map lookups; do it once per route rather than per request where
    /// the scopes are fixed. A preparation stays correct forever: tokens
    /// holding scopes it has not seen are judged by their scope strings.
    pub fn require_scopes(&self, names: Vec<String>) -> RequiredScopes {
        self.cache.scopes.prepare(names)
    }

    /// Verifies a presented token, optionally requiring scopes. Answers from
    /// memory when it can; malformed input never reaches the cache or store.
    pub async fn verify(&self, presented: &str, required_scopes: &[String]) -> Result<Verification, EngineError> {
        let required_scopes = &self.require_scopes(required_scopes.to_vec());
        let options = VerifyOptions { required_scopes, ..VerifyOptions::default() };
        self.verify_with(presented, &options, |verdict| verdict.to_verification()).await
    }

    /// Verifies `presented` and hands the verdict, borrowed from the cache,
    /// to `inspect`. The fast form of [`Verifier::verify`]: nothing is copied
    /// unless `inspect` copies it. `inspect` runs under a cache shard's read
    /// lock, so it should be short and must not block.
    pub async fn verify_with<R>(
        &self,
        presented: &str,
        options: &VerifyOptions<'_>,
        inspect: impl Fn(Verdict<'_>) -> R,
    ) -> Result<R, EngineError> {
        if ParsedToken::parse(presented).is_err() {
            self.note_unknown(options, self.clock.now_micros());
            return Ok(inspect(Verdict::bare(VerifyCode::Malformed)));
        }
        let digest = TokenDigest::of(presented);
        let now = self.clock.now_micros();
        let found = self
            .lookup(digest, now, |slot| {
                let verdict = self.judge(&digest, slot, now, options);
                if verdict.code == VerifyCode::NotFound {
                    self.note_unknown(options, now);
                }
                inspect(verdict)
            })
            .await?;
        Ok(match found {
            Some(result) => result,
            None => {
                self.note_unknown(options, now);
                inspect(Verdict::bare(VerifyCode::NotFound))
            }
        })
    }

    /// Counts a token the caller was shown that is not one of theirs (see
    /// [`VerifyOptions::caller`]): in memory, never a store write.
    #[cold]
    fn note_unknown(&self, options: &VerifyOptions<'_>, now: i64) {
        if let (Some(org), Some(caller)) = (options.org_id, options.caller) {
            self.note_unknown_token(org, caller, options.client_ip, now);
        }
    }

    /// Runs `inspect` on the token stored under `digest`, from the cache
    /// when it is there, else after loading it; `None` when no such token
    /// exists. Usage `inspect` records is kept for the next flush either way.
    pub(crate) async fn lookup<R>(
        &self,
        digest: TokenDigest,
        now: i64,
        inspect: impl Fn(&Slot) -> R,
    ) -> Result<Option<R>, EngineError> {
        // While a shared store's change feed is down, what is cached may be
        // stale: fail closed to the store.
        if self.cache.trusted() {
            for _ in 0..3 {
                if let Some(result) = self.cache.with_slot(&digest, &inspect) {
                    return Ok(Some(result));
                }
                if !self.load_digest(digest, now).await? {
                    return Ok(None);
                }
            }
        }
        // Untrusted, or invalidations kept withdrawing what we loaded:
        // answer from the store directly.
        let Some(record) = self.find_within_budget(&digest).await? else {
            return Ok(None);
        };
        let slot = Slot::new(record, &self.cache.scopes);
        let result = inspect(&slot);
        self.cache.restore_usage(slot.take_usage().into_iter().collect());
        Ok(Some(result))
    }

    /// Reads `digest` from the store into the cache; returns whether it exists.
    async fn load_digest(&self, digest: TokenDigest, now: i64) -> Result<bool, EngineError> {
        if self.cache.known_absent(&digest, now) {
            return Ok(false);
        }
        let epoch = self.cache.epoch();
        match self.find_within_budget(&digest).await? {
            None => {
                self.cache.insert_absent(digest, now, epoch);
                Ok(false)
            }
            Some(record) => {
                self.cache.insert_found(digest, Slot::new(record, &self.cache.scopes), epoch);
                Ok(true)
            }
        }
    }

    /// The store's answer for `digest`, within the lookup budget and the
    /// bound on concurrent lookups. Only uncached tokens come here: a cached
    /// one is judged without waiting on the store at all.
    async fn find_within_budget(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, EngineError> {
        let budget = self.lookup_budget;
        let (permits, store, digest) = (self.lookup_permits.clone(), self.store.clone(), *digest);
        // The query runs in a task of its own that holds the permit: when
        // the caller gives up, the query still occupies its connection
        // until the database answers, and the permit says so, so callers
        // that give up cannot add up to more connections than the bound.
        let lookup = async move {
            let permit = permits.acquire_owned().await.map_err(StoreError::backend)?;
            let query = tokio::spawn(async move {
                let found = store.find_token_by_digest(&digest).await;
                drop(permit);
                found
            });
            query.await.map_err(StoreError::backend)?
        };
        match tokio::time::timeout(budget, lookup).await {
            Ok(found) => Ok(found?),
            Err(_) => Err(StoreError::backend(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("token lookup took longer than its budget of {budget:?}"),
            ))
            .into()),
        }
    }

    #[cold]
    fn note_verification(&self, slot: &Slot, now: i64, code: VerifyCode, options: &VerifyOptions<'_>) {
        self.samples.note(&slot.record.id, now, code, options.client_ip, options.user_agent);
    }

    #[inline]
    /// The verdict on a cached token. Checks that need the record (keyspace,
    /// IP allowlist, scopes) run only when asked for or when the token has
    /// them, so the common case stays on the slot's cache line.
    pub(crate) fn judge<'a>(
        &self,
        digest: &TokenDigest,
        slot: &'a Slot,
        now: i64,
        options: &VerifyOptions<'a>,
    ) -> Verdict<'a> {
        let record = Some(&slot.record);
        if options.keyspace_id.is_some_and(|keyspace| keyspace != slot.record.keyspace_id)
            || options.org_id.is_some_and(|org| org != slot.record.org_id)
        {
            return Verdict::bare(VerifyCode::NotFound);
        }
        // Expiry is judged `expiry_leeway` late; revocation and disabling
        // set `valid_until` to the minimum, so no leeway reaches them.
        let judged = now.saturating_sub(self.expiry_leeway_micros());
        if judged >= slot.valid_until {
            let token = &slot.record;
            let code = match token.state_at(judged) {
                TokenState::Revoked => VerifyCode::Revoked,
                TokenState::Disabled => VerifyCode::Disabled,
                TokenState::Active | TokenState::Expired => VerifyCode::Expired,
            };
            if ended_by_rotation(token) {
                self.grace.record_reuse(token, options.client_ip, options.user_agent, now);
            }
            self.note_verification(slot, now, code, options);
            return Verdict { code, record, required_scopes: &[] };
        }
        if slot.ip_restricted() && !options.client_ip.is_some_and(|address| slot.allows_ip(address)) {
            self.note_verification(slot, now, VerifyCode::ForbiddenIp, options);
            return Verdict { code: VerifyCode::ForbiddenIp, record, required_scopes: &[] };
        }
        if !slot.grants(options.required_scopes) {
            self.note_verification(slot, now, VerifyCode::InsufficientScope, options);
            return Verdict {
                code: VerifyCode::InsufficientScope,
                record,
                required_scopes: options.required_scopes.names(),
            };
        }
        if self.cache.record_use(digest, slot, now) {
            // The first success since the last flush: one sample per flush.
            self.note_verification(slot, now, VerifyCode::Valid, options);
        }
        if slot.replaced {
            self.grace.record_client(&slot.record.id, options.client_ip, options.user_agent, now);
        }
        Verdict { code: VerifyCode::Valid, record, required_scopes: &[] }
    }

    /// Counts one unknown token `caller` (of `org`) was shown from
    /// `client_ip`, for the token spraying record: in memory, never a
    /// store write.
    #[cold]
    pub(crate) fn note_unknown_token(&self, org: &str, caller: &str, client_ip: Option<IpAddr>, now: i64) {
        if self.spraying_threshold > 0 {
            self.sprays.note(org, caller, client_ip.map(keyward_core::ip::canonical), now);
        }
    }

    /// Writes what verifications counted since the last flush: usage
    /// counts, samples of verifications, clients of rotated tokens (and
    /// reuse after their grace), and minutes of token spraying. Answers how
    /// many tokens' usage was written. What fails to be written is kept for
    /// the next flush.
    pub async fn flush(&self) -> Result<usize, EngineError> {
        let counted = crate::usage::flush(&self.cache, self.store.as_ref()).await;
        let watched = self.flush_grace_watch().await;
        let sampled = self.flush_samples().await;
        let sprayed = self.flush_spraying().await;
        let counted = counted?;
        watched?;
        sampled?;
        sprayed?;
        Ok(counted)
    }

    /// Flushes every `interval` until `shutdown` resolves, then once more.
    pub async fn run_flusher(&self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        crate::periodic::every(interval, shutdown, || async {
            if let Err(error) = self.flush().await {
                tracing::warn!(%error, "usage flush failed; counts kept for the next attempt");
            }
        })
        .await;
        if let Err(error) = self.flush().await {
            tracing::error!(%error, "final usage flush failed");
        }
    }

    /// Writes the pending verification samples.
    async fn flush_samples(&self) -> Result<(), EngineError> {
        let samples = self.samples.drain();
        if samples.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.store.record_verification_samples(&samples).await {
            self.samples.restore(samples);
            return Err(error.into());
        }
        Ok(())
    }

    /// Writes one `security.token_spraying` event per caller and source at
    /// or over the threshold in minutes that have ended.
    async fn flush_spraying(&self) -> Result<(), EngineError> {
        let now = self.clock.now_micros();
        let threshold = self.spraying_threshold;
        let mut first_error = None;
        for burst in self.sprays.take_closed(now) {
            if threshold == 0 || burst.count < threshold {
                continue;
            }
            if let Err(error) = write_spraying(self.store.as_ref(), self.rng.as_ref(), &burst, threshold).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Writes what the grace watch noted: clients of tokens in grace, and
    /// one security event per rotated token presented after its grace.
    async fn flush_grace_watch(&self) -> Result<(), EngineError> {
        let sightings = self.grace.drain_clients();
        if !sightings.is_empty() {
            if let Err(error) = self.store.record_client_sightings(&sightings).await {
                self.grace.restore_clients(sightings);
                return Err(error.into());
            }
        }
        let now = self.clock.now_micros();
        let mut due = self.grace.due_reuses(now).into_iter();
        while let Some(reuse) = due.next() {
            let entry = AuditEntry::TokenReusedAfterRotation {
                replaced_by: reuse.replaced_by.as_deref(),
                stopped_verifying_at: micros_to_datetime(reuse.ended_micros),
                attempts: reuse.attempts,
                first_attempt_at: micros_to_datetime(reuse.first_micros),
                last_attempt_at: micros_to_datetime(reuse.last_micros),
                user_agent: reuse.user_agent.as_deref(),
            };
            let event = AuditEvent {
                id: new_id(IdKind::Event, self.rng.as_ref())?,
                org_id: reuse.org_id.clone(),
                occurred_at: micros_to_datetime(reuse.last_micros),
                // The bearer of the old token did this.
                actor: reuse.token_id.clone(),
                action: entry.action(),
                target_type: "token".to_owned(),
                target_id: reuse.token_id.clone(),
                request_id: None,
                source_ip: reuse.client_ip.map(|ip| keyward_core::ip::canonical(ip).to_string()),
                details: crate::context::details(&entry)?,
            };
            if let Err(error) = self.store.append_audit_event(&event).await {
                // Retried with the next flush, this one and the rest alike.
                self.grace.unreport(reuse);
                due.for_each(|rest| self.grace.unreport(rest));
                return Err(error.into());
            }
            tracing::warn!(
                token_id = %reuse.token_id,
                attempts = reuse.attempts,
                "a rotated token was presented after its grace period ended"
            );
        }
        Ok(())
    }

    /// Subscribes the cache to changes other instances make in a shared
    /// store (PostgreSQL), so a revocation anywhere drops this instance's
    /// copy at once. Until the feed is up, and whenever it breaks, every
    /// verification reads the store. Answers whether there is a feed (the
    /// embedded SQLite store is never shared, so has none).
    pub async fn watch_shared_changes(&self) -> Result<bool, EngineError> {
        self.cache.feed_lost();
        let sink: std::sync::Weak<dyn ChangeSink> = Arc::downgrade(&self.cache) as _;
        // On an error the cache stays distrusted: slower, never stale.
        let watching = self.store.watch_token_changes(sink).await?;
        if !watching {
            self.cache.feed_restored();
        }
        Ok(watching)
    }

    /// Whether cached verdicts are believed: false while a shared store's
    /// change feed is down (or not yet up), when verifications read the store.
    pub fn cache_trusted(&self) -> bool {
        self.cache.trusted()
    }

    /// Records held in memory (for metrics and benchmarks).
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}
