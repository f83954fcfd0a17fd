//! The operations. Each validates its input, checks the actor's scopes,
//! commits the change with its audit event, then invalidates the cache.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{new_id, IdKind};
use keyward_core::ip::{self, IpNet};
use keyward_core::model::{
    actions, AuditEvent, AutoRotate, CatalogScope, Keyspace, Organization, RevokedReason, TokenRecord,
};
use keyward_core::policy::{TokenPolicy, TokenShape, Violation};
use keyward_core::scope::{self, management};
use keyward_core::validate::{self, InvalidField};
use keyward_core::{token, Clock, Environment, ParsedToken, SecretToken, SecureRng, TokenDigest, TokenPrefix};
use keyward_store::{
    day_of, ActiveTokenLimit, AuditFilter, DailyUsage, Founding, KeyspaceLifecycle, Page, PageRequest, Store,
    TokenFilter, TokenUpdate, VerificationSample,
};
use serde_json::{json, Value};

use crate::activity::{TokenActivity, RECENT_VERIFICATIONS};
use crate::actor::{Actor, Principal};
use crate::cache::{Slot, TokenCache};
use crate::error::PolicyProblem;
use crate::lineage::{ExpirySource, ParentBound};
use crate::scope_index::RequiredScopes;
use crate::verdict::{Verdict, Verification, VerifyOptions};
use crate::verifier::{Verifier, VerifierConfig};
use crate::EngineError;

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

/// A token just issued: the secret, shown once, and its record.
#[derive(Debug)]
pub struct Issued {
    /// The full token. Return it to the caller once; never log it.
    pub secret: SecretToken,
    /// Everything else.
    pub record: TokenRecord,
    /// The fields a management token took from the management token that
    /// minted it because the request left them open
    /// ([`crate::INHERITED_EXPIRY`], [`crate::INHERITED_NETWORKS`]).
    pub inherited_from_parent: Vec<&'static str>,
}

/// An organization just founded, and its first admin token (shown once).
#[derive(Debug)]
pub struct Founded {
    /// The organization.
    pub organization: Organization,
    /// Its management keyspace.
    pub management_keyspace: Keyspace,
    /// Its first admin token, holding every organization-level management scope.
    pub admin: Issued,
    admin_digest: TokenDigest,
}

/// What a founding token passes on to the admin token it founds with.
#[derive(Debug, Default)]
struct Bounds {
    expires_at: Option<DateTime<Utc>>,
    allowed_ips: Vec<IpNet>,
    inherited: Vec<&'static str>,
}

/// Input for a keyspace.
#[derive(Debug, Clone)]
pub struct NewKeyspace {
    /// Human name.
    pub name: String,
    /// `live` or `test`.
    pub environment: Environment,
    /// Token prefix; the configured default when `None`.
    pub prefix: Option<String>,
    /// Lifetime for tokens created without an expiry.
    pub default_ttl_seconds: Option<i64>,
    /// The scopes its tokens may carry, with descriptions; `None`: any
    /// customer scope.
    pub scope_catalog: Option<Vec<CatalogScope>>,
    /// Rotation period of its tokens without their own (else the policy's).
    pub rotation_period_days: Option<u32>,
    /// Disable its tokens unused this many days (else the policy's rule).
    pub disable_after_inactive_days: Option<u32>,
}

/// Input for a token.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    /// Keyspace to issue in.
    pub keyspace_id: String,
    /// Human name.
    pub name: String,
    /// Scopes to grant (may be empty: least privilege by default).
    pub scopes: Vec<String>,
    /// Owner; the acting principal's owner when `None`.
    pub owner: Option<String>,
    /// Lifetime in seconds (exclusive with `expires_at`).
    pub expires_in: Option<i64>,
    /// Exact expiry (exclusive with `expires_in`).
    pub expires_at: Option<DateTime<Utc>>,
    /// Small JSON object.
    pub metadata: Option<Value>,
    /// Networks (CIDRs or addresses) it may be used from; empty: anywhere.
    pub allowed_ips: Vec<String>,
    /// Its own rotation period in days, overriding the organization's.
    pub rotation_period_days: Option<u32>,
    /// Opt-in to automatic rotation with handoff to a webhook endpoint.
    pub auto_rotate: Option<AutoRotate>,
}

/// Changes to a token's mutable fields.
#[derive(Debug, Clone, Default)]
pub struct TokenChanges {
    /// New name.
    pub name: Option<String>,
    /// New metadata (replaces the old object).
    pub metadata: Option<Value>,
    /// New scopes (replace the old ones).
    pub scopes: Option<Vec<String>>,
    /// Must be `true` when the new scopes grant anything the old ones did not.
    pub confirm_broader_scopes: bool,
    /// New IP allowlist (replaces the old one; empty: anywhere).
    pub allowed_ips: Option<Vec<String>>,
    /// New rotation period in days; `Some(None)` falls back to the organization's.
    pub rotation_period_days: Option<Option<u32>>,
    /// Automatic rotation; `Some(None)` turns it off.
    pub auto_rotate: Option<Option<AutoRotate>>,
}

/// A token that breaks its organization's current policy, and how.
#[derive(Debug, Clone)]
pub struct PolicyFinding {
    /// The token.
    pub token: TokenRecord,
    /// Every rule it breaks, explained.
    pub violations: Vec<PolicyProblem>,
}

/// The token engine. Cheap to share behind an `Arc`.
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn SecureRng>,
    /// Verification, and the cache every change made here invalidates.
    pub(crate) verifier: Verifier,
    /// The verifier's cache, for the changes that invalidate it.
    pub(crate) cache: Arc<TokenCache>,
    pub(crate) config: EngineConfig,
    pub(crate) throttle: crate::accounts::SignInThrottle,
    pub(crate) hash_permits: tokio::sync::Semaphore,
    pub(crate) operator_org: std::sync::OnceLock<String>,
    pub(crate) setup: crate::setup::SetupSlot,
    pub(crate) security_budget: crate::security::EventBudget,
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

impl Engine {
    /// An engine over `store`. Call [`Engine::load`] (or [`Engine::bootstrap`])
    /// before serving management requests.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, rng: Arc<dyn SecureRng>, config: EngineConfig) -> Self {
        let verifier =
            Verifier::with_config(store.clone(), clock.clone(), config.verifier_config()).with_rng(rng.clone());
        Self {
            cache: verifier.cache.clone(),
            verifier,
            store,
            clock,
            rng,
            config,
            throttle: crate::accounts::SignInThrottle::new(),
            hash_permits: crate::accounts::hash_permits(),
            operator_org: std::sync::OnceLock::new(),
            setup: crate::setup::SetupSlot::default(),
            security_budget: crate::security::EventBudget::default(),
        }
    }

    /// The verifier inside, for a service that shares it with the engine.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The clock every judgement of "now" uses, so responses agree with verification.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The store, for readiness checks.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Whether the store has been bootstrapped (its operator organization exists).
    pub async fn load(&self) -> Result<bool, EngineError> {
        Ok(self.store.operator_organization().await?.is_some())
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        micros_to_datetime(self.clock.now_micros())
    }

    /// An event in the actor's organization's log.
    pub(crate) fn event(
        &self,
        actor: &Actor,
        action: &str,
        target_type: &str,
        target_id: &str,
        details: Value,
    ) -> Result<AuditEvent, EngineError> {
        self.event_in(actor.org_id(), actor, action, target_type, target_id, details)
    }

    pub(crate) fn event_in(
        &self,
        org_id: &str,
        actor: &Actor,
        action: &str,
        target_type: &str,
        target_id: &str,
        details: Value,
    ) -> Result<AuditEvent, EngineError> {
        Ok(AuditEvent {
            id: new_id(IdKind::Event, self.rng.as_ref())?,
            org_id: org_id.to_owned(),
            occurred_at: self.now(),
            actor: actor.principal.id().to_owned(),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            request_id: actor.context.request_id.clone(),
            source_ip: actor.context.source_ip.map(|ip| ip.to_string()),
            details,
        })
    }

    /// Creates the operator organization, its management keyspace and the
    /// first admin token, once. Returns the admin token when this call
    /// created it, `None` when the store was bootstrapped already.
    pub async fn bootstrap(&self) -> Result<Option<Issued>, EngineError> {
        if self.load().await? {
            return Ok(None);
        }
        let system = Actor::system();
        let scopes: Vec<String> = management::ALL.iter().map(|s| (*s).to_owned()).collect();
        let founded = self.prepare_founding("operator", true, scopes, Bounds::default(), &system)?;
        let event = self.event_in(
            &founded.organization.id,
            &system,
            actions::ADMIN_BOOTSTRAPPED,
            "token",
            &founded.admin.record.id,
            json!({"keyspace_id": founded.management_keyspace.id, "organization_id": founded.organization.id}),
        )?;
        let created = self.store.bootstrap(&founded.founding(&event)).await?;
        Ok(created.then_some(founded.admin))
    }

    /// Founds an organization (operator only): its management keyspace and
    /// a first admin token holding every organization-level management scope,
    /// shown once. The event goes to the operator's log.
    ///
    /// That admin token is a management credential like any other: a
    /// founding token bounds it (it expires no later and is usable only
    /// from the same networks), so a leaked short-lived operator token
    /// cannot leave a permanent admin behind in a tenant it made; and a
    /// signed-in operator needs a recently typed password.
    pub async fn create_organization(&self, actor: &Actor, name: &str) -> Result<Founded, EngineError> {
        actor.require(management::ORGANIZATIONS_WRITE)?;
        self.require_recent_password(actor)?;
        let name = validate::name("name", name)?;
        let scopes: Vec<String> = management::ORGANIZATION.iter().map(|s| (*s).to_owned()).collect();
        let bounds = match ParentBound::of(actor) {
            None => Bounds::default(),
            Some(bound) => {
                let (expires_at, expiry_inherited) = bound.expiry(None, ExpirySource::Defaulted)?;
                let (allowed_ips, networks_inherited) = bound.networks(Vec::new(), true)?;
                let inherited = [
                    expiry_inherited.then_some(crate::lineage::INHERITED_EXPIRY),
                    networks_inherited.then_some(crate::lineage::INHERITED_NETWORKS),
                ];
                Bounds { expires_at, allowed_ips, inherited: inherited.into_iter().flatten().collect() }
            }
        };
        let founded = self.prepare_founding(&name, false, scopes, bounds, actor)?;
        let event = self.event(
            actor,
            actions::ORGANIZATION_CREATED,
            "organization",
            &founded.organization.id,
            json!({
                "name": founded.organization.name,
                "admin_token_id": founded.admin.record.id,
                "admin_expires_at": founded.admin.record.expires_at,
                "admin_allowed_ips": founded.admin.record.allowed_ips,
                "inherited_from_parent": founded.admin.inherited_from_parent,
            }),
        )?;
        self.store.create_organization(&founded.founding(&event)).await?;
        Ok(founded)
    }

    fn prepare_founding(
        &self,
        name: &str,
        operator: bool,
        scopes: Vec<String>,
        bounds: Bounds,
        actor: &Actor,
    ) -> Result<Founded, EngineError> {
        let now = self.now();
        let created_by = actor.principal.id().to_owned();
        let organization = Organization {
            id: new_id(IdKind::Organization, self.rng.as_ref())?,
            name: name.to_owned(),
            operator,
            token_policy: TokenPolicy::default(),
            created_at: now,
            created_by: created_by.clone(),
        };
        let keyspace = Keyspace {
            id: new_id(IdKind::Keyspace, self.rng.as_ref())?,
            org_id: organization.id.clone(),
            name: "keyward management".into(),
            environment: Environment::Live,
            prefix: self.config.default_prefix.clone(),
            default_ttl_seconds: None,
            scope_catalog: None,
            management: true,
            rotation_period_days: None,
            disable_after_inactive_days: None,
            created_at: now,
            created_by,
        };
        let admin_name = if operator { "admin (bootstrap)" } else { "admin (organization founded)" };
        let (secret, record) = self.mint(
            &keyspace,
            admin_name.into(),
            "admin".into(),
            scopes,
            bounds.allowed_ips,
            now,
            bounds.expires_at,
            json!({}),
            actor,
        )?;
        let admin_digest = TokenDigest::of(secret.expose());
        // The operator's token founding another tenant plants nothing in
        // its own lineage: lineage never crosses organizations.
        let record = TokenRecord { parent_token_id: None, ..record };
        Ok(Founded {
            organization,
            management_keyspace: keyspace,
            admin: Issued { secret, record, inherited_from_parent: bounds.inherited },
            admin_digest,
        })
    }

    /// Renames the actor's own organization (owners: it takes the policy
    /// scope, which only they hold).
    pub async fn rename_organization(&self, actor: &Actor, name: &str) -> Result<Organization, EngineError> {
        actor.require(management::POLICIES_WRITE)?;
        let name = validate::name("name", name)?;
        let before = self.store.get_organization(actor.org_id()).await?.ok_or(EngineError::NotFound("organization"))?;
        if before.name == name {
            return Ok(before);
        }
        let event = self.event(
            actor,
            actions::ORGANIZATION_RENAMED,
            "organization",
            actor.org_id(),
            json!({"name_before": before.name, "name_after": name}),
        )?;
        self.store
            .rename_organization(actor.org_id(), &name, &event)
            .await?
            .ok_or(EngineError::NotFound("organization"))
    }

    /// The token policy of the actor's organization.
    pub async fn token_policy(&self, actor: &Actor) -> Result<TokenPolicy, EngineError> {
        let organization =
            self.store.get_organization(actor.org_id()).await?.ok_or(EngineError::NotFound("organization"))?;
        Ok(organization.token_policy)
    }

    /// Replaces the actor's organization's token policy. It applies to
    /// tokens created or changed from now on; existing tokens that break it
    /// are reported by [`Engine::policy_violations`], not touched.
    pub async fn set_token_policy(&self, actor: &Actor, policy: TokenPolicy) -> Result<Organization, EngineError> {
        actor.require(management::POLICIES_WRITE)?;
        let policy = policy.validate()?;
        let before = self.token_policy(actor).await?;
        let event = self.event(
            actor,
            actions::POLICY_CHANGED,
            "organization",
            actor.org_id(),
            json!({"policy_before": before, "policy_after": policy}),
        )?;
        self.store.set_token_policy(actor.org_id(), &policy, &event).await?.ok_or(EngineError::NotFound("organization"))
    }

    /// Active tokens among one page of the organization's tokens (walk the
    /// pages with the returned cursor) that break its current policy. A
    /// page may hold fewer findings than its size, or none.
    pub async fn policy_violations(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<PolicyFinding>, EngineError> {
        actor.require(management::TOKENS_READ)?;
        let policy = self.token_policy(actor).await?;
        let now = self.now();
        let filter =
            TokenFilter { state: Some(keyward_core::model::TokenState::Active), now, ..TokenFilter::default() };
        let tokens = self.store.list_tokens(actor.org_id(), &filter, page).await?;
        let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut findings = Vec::new();
        for token in tokens.items {
            let mut violations = Engine::violations_of(&policy, &token);
            if let Some(limit) = policy.max_active_tokens_per_owner {
                let count = match counts.get(&token.owner) {
                    Some(count) => *count,
                    None => {
                        let count = self.store.count_active_tokens(actor.org_id(), &token.owner, now).await?;
                        counts.insert(token.owner.clone(), count);
                        count
                    }
                };
                if count > u64::from(limit) {
                    violations.push(Violation::OwnerOverLimit);
                }
            }
            if !violations.is_empty() {
                let violations = violations.iter().map(|v| PolicyProblem::explain(v, &policy)).collect();
                findings.push(PolicyFinding { token, violations });
            }
        }
        Ok(Page { items: findings, next: tokens.next })
    }

    /// The rules of `policy` that `token` breaks on its own (without the
    /// per-owner count), for flagging it wherever it is shown.
    pub fn violations_of(policy: &TokenPolicy, token: &TokenRecord) -> Vec<Violation> {
        if policy.is_empty() {
            return Vec::new();
        }
        policy.violations(&TokenShape {
            created_at_micros: token.created_at.timestamp_micros(),
            expires_at_micros: token.expires_at.map(|at| at.timestamp_micros()),
            scopes: &token.scopes,
            allowed_ips: &token.allowed_ips,
            management: token.management,
        })
    }

    /// One organization: the caller's own, or any for the operator.
    pub async fn get_organization(&self, actor: &Actor, id: &str) -> Result<Organization, EngineError> {
        // Another tenant's organization is as absent as a missing one.
        if id != actor.org_id() && !actor.holds(management::ORGANIZATIONS_READ)
            || !keyward_core::id::looks_like(IdKind::Organization, id)
        {
            return Err(EngineError::NotFound("organization"));
        }
        self.store.get_organization(id).await?.ok_or(EngineError::NotFound("organization"))
    }

    /// Every organization, newest first (operator only).
    pub async fn list_organizations(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<Organization>, EngineError> {
        actor.require(management::ORGANIZATIONS_READ)?;
        Ok(self.store.list_organizations(page).await?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mint(
        &self,
        keyspace: &Keyspace,
        name: String,
        owner: String,
        scopes: Vec<String>,
        allowed_ips: Vec<IpNet>,
        // The instant its expiry was computed from, so a lifetime of "30d"
        // is exactly 30 days between `created_at` and `expires_at`.
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        metadata: Value,
        actor: &Actor,
    ) -> Result<(SecretToken, TokenRecord), EngineError> {
        let secret = token::generate(&keyspace.prefix, keyspace.environment, self.rng.as_ref())?;
        let text = secret.expose();
        let record = TokenRecord {
            id: new_id(IdKind::Token, self.rng.as_ref())?,
            org_id: keyspace.org_id.clone(),
            keyspace_id: keyspace.id.clone(),
            management: keyspace.management,
            name,
            owner,
            scopes,
            allowed_ips,
            metadata,
            environment: keyspace.environment,
            prefix: keyspace.prefix.as_str().to_owned(),
            last4: text[text.len() - 4..].to_owned(),
            created_at,
            created_by: actor.principal.id().to_owned(),
            parent_token_id: actor.minting_token().map(|token| token.id.clone()),
            expires_at,
            revoked_at: None,
            revoked_reason: None,
            rotated_from: None,
            replaced_by: None,
            rotated_at: None,
            expires_at_before_rotation: None,
            disabled_at: None,
            disabled_reason: None,
            enabled_at: None,
            rotation_period_days: None,
            auto_rotate: None,
            last_used_at: None,
            use_count: 0,
        };
        Ok((secret, record))
    }

    /// Creates a keyspace.
    pub async fn create_keyspace(&self, actor: &Actor, input: NewKeyspace) -> Result<Keyspace, EngineError> {
        actor.require(management::KEYSPACES_WRITE)?;
        let name = validate::name("name", &input.name)?;
        let prefix = match input.prefix {
            Some(text) => TokenPrefix::new(&text).map_err(|error| InvalidField::new("prefix", error.to_string()))?,
            None => self.config.default_prefix.clone(),
        };
        if let Some(ttl) = input.default_ttl_seconds {
            validate::ttl_seconds("default_ttl_seconds", ttl)?;
        }
        let scope_catalog = input.scope_catalog.as_deref().map(normalize_catalog).transpose()?;
        let lifecycle = keyspace_lifecycle(input.rotation_period_days, input.disable_after_inactive_days)?;
        let keyspace = Keyspace {
            id: new_id(IdKind::Keyspace, self.rng.as_ref())?,
            org_id: actor.org_id().to_owned(),
            name,
            environment: input.environment,
            prefix,
            default_ttl_seconds: input.default_ttl_seconds,
            scope_catalog,
            management: false,
            rotation_period_days: lifecycle.rotation_period_days,
            disable_after_inactive_days: lifecycle.disable_after_inactive_days,
            created_at: self.now(),
            created_by: actor.principal.id().to_owned(),
        };
        let event = self.event(
            actor,
            actions::KEYSPACE_CREATED,
            "keyspace",
            &keyspace.id,
            json!({"name": keyspace.name, "environment": keyspace.environment, "prefix": keyspace.prefix,
                   "rotation_period_days": keyspace.rotation_period_days,
                   "disable_after_inactive_days": keyspace.disable_after_inactive_days}),
        )?;
        self.store.create_keyspace(&keyspace, &event).await?;
        Ok(keyspace)
    }

    /// Replaces a keyspace's own rotation period and inactivity rule (each
    /// `None`: the organization's policy applies). The lifecycle scheduler
    /// uses them from its next pass.
    pub async fn set_keyspace_lifecycle(
        &self,
        actor: &Actor,
        id: &str,
        rotation_period_days: Option<u32>,
        disable_after_inactive_days: Option<u32>,
    ) -> Result<Keyspace, EngineError> {
        actor.require(management::KEYSPACES_WRITE)?;
        let lifecycle = keyspace_lifecycle(rotation_period_days, disable_after_inactive_days)?;
        let before = self.get_keyspace(actor, id).await?;
        let event = self.event(
            actor,
            actions::KEYSPACE_LIFECYCLE_CHANGED,
            "keyspace",
            id,
            json!({
                "before": {"rotation_period_days": before.rotation_period_days,
                           "disable_after_inactive_days": before.disable_after_inactive_days},
                "after": {"rotation_period_days": lifecycle.rotation_period_days,
                          "disable_after_inactive_days": lifecycle.disable_after_inactive_days},
            }),
        )?;
        self.store
            .set_keyspace_lifecycle(actor.org_id(), id, &lifecycle, &event)
            .await?
            .ok_or(EngineError::NotFound("keyspace"))
    }

    /// Replaces a keyspace's scope catalog (`None`: any customer scope).
    /// Tokens already holding a scope that leaves the catalog keep it; only
    /// new grants are checked against the catalog. The event keeps the
    /// catalog before and after.
    pub async fn replace_scope_catalog(
        &self,
        actor: &Actor,
        id: &str,
        catalog: Option<Vec<CatalogScope>>,
    ) -> Result<Keyspace, EngineError> {
        actor.require(management::KEYSPACES_WRITE)?;
        let catalog = catalog.as_deref().map(normalize_catalog).transpose()?;
        let before = self.get_keyspace(actor, id).await?;
        if before.management {
            return Err(InvalidField::new(
                "scopes",
                "the management keyspace's scopes are Keyward's own and cannot be changed",
            )
            .into());
        }
        let event = self.event(
            actor,
            actions::KEYSPACE_SCOPES_CHANGED,
            "keyspace",
            id,
            json!({"scopes_before": before.scope_catalog, "scopes_after": catalog}),
        )?;
        self.store
            .replace_scope_catalog(actor.org_id(), id, catalog.as_deref(), &event)
            .await?
            .ok_or(EngineError::NotFound("keyspace"))
    }

    /// One keyspace.
    pub async fn get_keyspace(&self, actor: &Actor, id: &str) -> Result<Keyspace, EngineError> {
        actor.require(management::KEYSPACES_READ)?;
        if !keyward_core::id::looks_like(IdKind::Keyspace, id) {
            return Err(EngineError::NotFound("keyspace"));
        }
        self.store.get_keyspace(actor.org_id(), id).await?.ok_or(EngineError::NotFound("keyspace"))
    }

    /// Keyspaces, newest first.
    pub async fn list_keyspaces(&self, actor: &Actor, page: &PageRequest) -> Result<Page<Keyspace>, EngineError> {
        actor.require(management::KEYSPACES_READ)?;
        Ok(self.store.list_keyspaces(actor.org_id(), page).await?)
    }

    /// Issues a token. The secret is in the result and nowhere else.
    pub async fn issue_token(&self, actor: &Actor, input: NewToken) -> Result<Issued, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        let name = validate::name("name", &input.name)?;
        let owner = match &input.owner {
            Some(owner) => validate::owner(owner)?,
            None => actor.principal.owner().to_owned(),
        };
        actor.require_manages_tokens_of(&owner)?;
        self.check_owner(actor.org_id(), &owner).await?;
        let metadata = input.metadata.unwrap_or_else(|| json!({}));
        validate::metadata(&metadata)?;
        if !keyward_core::id::looks_like(IdKind::Keyspace, &input.keyspace_id) {
            return Err(EngineError::NotFound("keyspace"));
        }
        let keyspace = self
            .store
            .get_keyspace(actor.org_id(), &input.keyspace_id)
            .await?
            .ok_or(EngineError::NotFound("keyspace"))?;
        let scopes = grantable_scopes(actor, &keyspace, &input.scopes)?;
        let allowed_ips = parse_allowed_ips(&input.allowed_ips)?;
        if keyspace.management {
            self.require_recent_password(actor)?;
        }
        let rotation_period_days = input
            .rotation_period_days
            .map(|days| validate::lifecycle_days("rotation_period_days", days))
            .transpose()?;
        let policy = self.token_policy(actor).await?;
        let now = self.now();
        let expiry_source = match (input.expires_in, input.expires_at) {
            (None, None) => ExpirySource::Defaulted,
            _ => ExpirySource::Requested,
        };
        let expires_at = match (input.expires_in, input.expires_at) {
            (Some(_), Some(_)) => {
                return Err(InvalidField::new("expires_at", "give either expires_in or expires_at, not both").into())
            }
            (Some(seconds), None) => {
                validate::ttl_seconds("expires_in", seconds)?;
                Some(now + chrono::Duration::seconds(seconds))
            }
            (None, Some(at)) => {
                if at <= now {
                    return Err(InvalidField::new("expires_at", "must be in the future").into());
                }
                if at > now + chrono::Duration::seconds(validate::MAX_TTL_SECONDS) {
                    return Err(InvalidField::new("expires_at", "must be at most 10 years from now").into());
                }
                // Stored at microsecond precision, like every other time.
                Some(micros_to_datetime(at.timestamp_micros()))
            }
            (None, None) => policy
                .default_lifetime_seconds
                .or(keyspace.default_ttl_seconds)
                .map(|seconds| now + chrono::Duration::seconds(seconds)),
        };
        // A management token planting a management token bounds it by
        // itself; customer tokens it issues are the keyspace's business.
        let mut inherited = Vec::new();
        let (expires_at, allowed_ips) = match ParentBound::of(actor).filter(|_| keyspace.management) {
            Some(bound) => {
                let (expires_at, took_expiry) = bound.expiry(expires_at, expiry_source)?;
                let (allowed_ips, took_networks) = bound.networks(allowed_ips, true)?;
                if took_expiry {
                    inherited.push(crate::INHERITED_EXPIRY);
                }
                if took_networks {
                    inherited.push(crate::INHERITED_NETWORKS);
                }
                (expires_at, allowed_ips)
            }
            None => (expires_at, allowed_ips),
        };
        let auto_rotate = match input.auto_rotate {
            Some(auto) => Some(
                self.checked_auto_rotate(
                    actor.org_id(),
                    &policy,
                    auto,
                    rotation_period_days.or(keyspace.rotation_period_days),
                )
                .await?,
            ),
            None => None,
        };
        let (secret, mut record) =
            self.mint(&keyspace, name, owner, scopes, allowed_ips, now, expires_at, metadata, actor)?;
        record.rotation_period_days = rotation_period_days;
        record.auto_rotate = auto_rotate;
        let mut violations = Engine::violations_of(&policy, &record);
        let limit = policy.max_active_tokens_per_owner.map(|max| ActiveTokenLimit { max: u64::from(max), now });
        if let Some(limit) = limit {
            // Counted here too so that one answer lists every broken rule;
            // the store's check at insert is the one races cannot pass.
            if self.store.count_active_tokens(actor.org_id(), &record.owner, now).await? >= limit.max {
                violations.push(Violation::OwnerOverLimit);
            }
        }
        refuse_violations(&policy, violations)?;
        let digest = TokenDigest::of(secret.expose());
        let event = self.event(
            actor,
            actions::TOKEN_CREATED,
            "token",
            &record.id,
            json!({"keyspace_id": record.keyspace_id, "name": record.name, "owner": record.owner, "scopes": record.scopes, "allowed_ips": record.allowed_ips, "expires_at": record.expires_at, "rotation_period_days": record.rotation_period_days, "auto_rotate": record.auto_rotate, "parent_token_id": record.parent_token_id, "inherited_from_parent": inherited}),
        )?;
        self.store.create_token(&record, &digest, &event, limit).await.map_err(|error| match error {
            keyward_store::StoreError::MissingReference(_) => EngineError::NotFound("keyspace"),
            keyward_store::StoreError::LimitReached(_) => EngineError::PolicyViolation {
                violations: vec![PolicyProblem::explain(&Violation::OwnerOverLimit, &policy)],
            },
            other => other.into(),
        })?;
        // A concurrent verify of this digest (possible only by guessing it)
        // may have cached its absence; the new token must verify at once.
        self.cache.invalidate(&digest);
        Ok(Issued { secret, record, inherited_from_parent: inherited })
    }

    /// Authenticates a management API caller. Any failure (malformed,
    /// unknown, expired, revoked, or a token of another keyspace) is the same
    /// `None`, so nothing about foreign tokens can be learned from the API.
    pub async fn authenticate(
        &self,
        presented: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<Option<Principal>, EngineError> {
        self.authenticate_client(presented, client_ip, None).await
    }

    /// [`Engine::authenticate`], also naming the client's user agent, which
    /// is noted when the token is a rotated one in its grace period.
    pub async fn authenticate_client(
        &self,
        presented: &str,
        client_ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Option<Principal>, EngineError> {
        let now = self.clock.now_micros();
        if ParsedToken::parse(presented).is_err() {
            self.note_unknown_bearer(client_ip, now).await;
            return Ok(None);
        }
        let digest = TokenDigest::of(presented);
        let options = VerifyOptions { client_ip, user_agent, ..VerifyOptions::default() };
        let admit = |slot: &Slot| {
            if !slot.management || !self.verifier.judge(&digest, slot, now, &options).is_valid() {
                return None;
            }
            Some(slot.record.clone())
        };
        let Some(found) = self.verifier.lookup(digest, now, admit).await? else {
            self.note_unknown_bearer(client_ip, now).await;
            return Ok(None);
        };
        let Some(token) = found else {
            return Ok(None);
        };
        // A person's token acts within their current role; a former
        // member's token (revoked on removal anyway) authenticates nothing.
        // The role is cached with the token (and dropped with it, or when
        // the membership changes), so a cached caller needs no database.
        if !keyward_core::id::looks_like(IdKind::User, &token.owner) {
            return Ok(Some(Principal::token(token, None)));
        }
        if self.cache.trusted() {
            if let Some(grant) = self.cache.grant(&digest) {
                return Ok(Some(Principal::token(token, Some(grant))));
            }
        }
        let epoch = self.cache.epoch();
        match self.owner_grant(&token).await? {
            Ok(Some(grant)) => {
                self.cache.insert_grant(digest, &token.org_id, &token.owner, grant, epoch);
                Ok(Some(Principal::token(token, Some(grant))))
            }
            Ok(None) => Ok(Some(Principal::token(token, None))),
            Err(()) => Ok(None),
        }
    }

    /// One token.
    pub async fn get_token(&self, actor: &Actor, id: &str) -> Result<TokenRecord, EngineError> {
        actor.require(management::TOKENS_READ)?;
        if !keyward_core::id::looks_like(IdKind::Token, id) {
            return Err(EngineError::NotFound("token"));
        }
        self.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))
    }

    /// Tokens matching `filter` (its `now` is set here), newest first.
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        mut filter: TokenFilter,
        page: &PageRequest,
    ) -> Result<Page<TokenRecord>, EngineError> {
        actor.require(management::TOKENS_READ)?;
        filter.now = self.now();
        Ok(self.store.list_tokens(actor.org_id(), &filter, page).await?)
    }

    /// Renames a token, or replaces its metadata, scopes or IP allowlist.
    /// New scopes obey the same rules as at issue; scopes that grant more
    /// than before need `confirm_broader_scopes`, and the audit event keeps
    /// the scopes before and after.
    pub async fn update_token(
        &self,
        actor: &Actor,
        id: &str,
        changes: TokenChanges,
    ) -> Result<TokenRecord, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        let name = changes.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
        if let Some(metadata) = &changes.metadata {
            validate::metadata(metadata)?;
        }
        let allowed_ips = changes.allowed_ips.as_deref().map(parse_allowed_ips).transpose()?;
        if name.is_none()
            && changes.metadata.is_none()
            && changes.scopes.is_none()
            && allowed_ips.is_none()
            && changes.rotation_period_days.is_none()
            && changes.auto_rotate.is_none()
        {
            return Err(InvalidField::new(
                "name",
                "give at least one of name, metadata, scopes, allowed_ips, rotation_period_days or auto_rotate",
            )
            .into());
        }
        if !keyward_core::id::looks_like(IdKind::Token, id) {
            return Err(EngineError::NotFound("token"));
        }
        self.require_manages_token(actor, id).await?;
        let mut details = serde_json::Map::new();
        let mut if_scopes_are = None;
        // Scope and allowlist changes are judged against the current record.
        let current = match changes.scopes.is_some() || allowed_ips.is_some() {
            true => Some(self.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?),
            false => None,
        };
        // A token may not widen a management token's networks beyond its
        // own, any more than it could have minted it so.
        let allowed_ips = match (allowed_ips, &current, ParentBound::of(actor)) {
            (Some(list), Some(current), Some(bound)) if current.management => Some(bound.networks(list, false)?.0),
            (list, _, _) => list,
        };
        let scopes = match (&changes.scopes, &current) {
            (Some(requested), Some(current)) => {
                let keyspace =
                    self.store.get_keyspace(actor.org_id(), &current.keyspace_id).await?.ok_or_else(|| {
                        EngineError::Store(keyward_store::StoreError::Corrupt("token without keyspace".into()))
                    })?;
                let scopes = grantable_scopes(actor, &keyspace, requested)?;
                let broader: Vec<String> = scopes
                    .iter()
                    .filter(|new| !current.scopes.iter().any(|old| scope::grants(old, new)))
                    .cloned()
                    .collect();
                if !broader.is_empty() && !changes.confirm_broader_scopes {
                    return Err(EngineError::ConfirmationRequired { broader });
                }
                details.insert("scopes_before".into(), json!(current.scopes));
                details.insert("scopes_after".into(), json!(scopes));
                details.insert("broadened".into(), json!(!broader.is_empty()));
                // The widening check above holds only for these old scopes.
                if_scopes_are = Some(current.scopes.clone());
                Some(scopes)
            }
            _ => None,
        };
        if let Some(current) = &current {
            // A change may not introduce a violation in what it changes;
            // older violations elsewhere (say, no expiry) do not block it.
            let policy = self.token_policy(actor).await?;
            let changed = TokenRecord {
                scopes: scopes.clone().unwrap_or_else(|| current.scopes.clone()),
                allowed_ips: allowed_ips.clone().unwrap_or_else(|| current.allowed_ips.clone()),
                ..current.clone()
            };
            let introduced = Engine::violations_of(&policy, &changed)
                .into_iter()
                .filter(|violation| match violation {
                    Violation::ScopeNotGrantable(_) => scopes.is_some(),
                    Violation::NoIpAllowlist => allowed_ips.is_some(),
                    _ => false,
                })
                .collect();
            refuse_violations(&policy, introduced)?;
        }
        if let Some(name) = &name {
            details.insert("name".into(), json!(name));
        }
        if changes.metadata.is_some() {
            details.insert("metadata_replaced".into(), json!(true));
        }
        if let Some(list) = &allowed_ips {
            details.insert("allowed_ips".into(), json!(list));
        }
        let rotation_period_days = changes
            .rotation_period_days
            .map(|days| days.map(|days| validate::lifecycle_days("rotation_period_days", days)).transpose())
            .transpose()?;
        if let Some(days) = rotation_period_days {
            details.insert("rotation_period_days".into(), json!(days));
        }
        let auto_rotate = match changes.auto_rotate {
            Some(Some(auto)) => {
                // The period that will make it due: its own (as changed by
                // this call, or as stored), else its keyspace's.
                let token = self.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
                let own = rotation_period_days.unwrap_or(token.rotation_period_days);
                let keyspace = self.store.get_keyspace(actor.org_id(), &token.keyspace_id).await?;
                let period = own.or(keyspace.and_then(|keyspace| keyspace.rotation_period_days));
                let policy = self.token_policy(actor).await?;
                Some(Some(self.checked_auto_rotate(actor.org_id(), &policy, auto, period).await?))
            }
            other => other,
        };
        if let Some(auto) = &auto_rotate {
            details.insert("auto_rotate".into(), json!(auto));
        }
        let event = self.event(actor, actions::TOKEN_UPDATED, "token", id, Value::Object(details))?;
        let update = TokenUpdate {
            name,
            metadata: changes.metadata,
            scopes,
            allowed_ips,
            rotation_period_days,
            auto_rotate,
            if_scopes_are,
        };
        let stored = self
            .store
            .update_token(actor.org_id(), id, &update, &event)
            .await?
            .ok_or(EngineError::NotFound("token"))?;
        self.cache.invalidate(&stored.digest);
        Ok(stored.record)
    }

    /// Revokes a token, immediately and idempotently, for `reason` (a
    /// second revocation keeps the first one's time and reason).
    /// `rotation` and `member_removed` are Keyward's own reasons, not given by callers.
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        id: &str,
        reason: RevokedReason,
    ) -> Result<TokenRecord, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        refuse_reserved_reason(reason)?;
        if !keyward_core::id::looks_like(IdKind::Token, id) {
            return Err(EngineError::NotFound("token"));
        }
        self.require_manages_token(actor, id).await?;
        let now = self.now();
        let event = self.event(actor, actions::TOKEN_REVOKED, "token", id, json!({"reason": reason.as_str()}))?;
        let revocation = self
            .store
            .revoke_token(actor.org_id(), id, now, reason, &event)
            .await?
            .ok_or(EngineError::NotFound("token"))?;
        self.cache.invalidate(&revocation.token.digest);
        Ok(revocation.token.record)
    }

    /// Fails unless the actor may change token `id`: developers change only
    /// tokens they own (an owner never changes, so the check cannot go stale).
    pub(crate) async fn require_manages_token(&self, actor: &Actor, id: &str) -> Result<(), EngineError> {
        if actor.principal.person().is_some_and(|(_, grant)| !grant.role.manages_everyones_tokens()) {
            let token = self.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
            actor.require_manages_tokens_of(&token.owner)?;
        }
        Ok(())
    }

    /// Audit events, newest first.
    pub async fn list_audit(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, EngineError> {
        actor.require(management::AUDIT_READ)?;
        Ok(self.store.list_audit(actor.org_id(), filter, page).await?)
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

    /// A token's successful verifications per day over the last `days` UTC
    /// days (today included) and its newest verification samples.
    pub async fn token_activity(&self, actor: &Actor, id: &str, days: u32) -> Result<TokenActivity, EngineError> {
        actor.require(management::TOKENS_READ)?;
        if !keyward_core::id::looks_like(IdKind::Token, id) {
            return Err(EngineError::NotFound("token"));
        }
        let today = day_of(self.now());
        let first = today - i64::from(days.max(1)) + 1;
        let counted = self.store.usage_by_day(actor.org_id(), id, first).await?;
        let days = (first..=today)
            .map(|day| DailyUsage {
                day,
                uses: counted.iter().find(|counted| counted.day == day).map_or(0, |counted| counted.uses),
            })
            .collect();
        let recent = self.store.recent_verifications(actor.org_id(), id, RECENT_VERIFICATIONS).await?;
        Ok(TokenActivity { days, recent })
    }

    /// Where each of `ids` was last used successfully (address and user
    /// agent of its newest successful sample), by token id. Tokens without
    /// a successful sample yet are absent.
    pub async fn last_uses(
        &self,
        actor: &Actor,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, VerificationSample>, EngineError> {
        actor.require(management::TOKENS_READ)?;
        let samples = self.store.last_successful_verifications(actor.org_id(), ids).await?;
        Ok(samples.into_iter().map(|sample| (sample.token_id.clone(), sample)).collect())
    }
}

impl Founded {
    fn founding<'a>(&'a self, event: &'a AuditEvent) -> Founding<'a> {
        Founding {
            organization: &self.organization,
            keyspace: &self.management_keyspace,
            admin: Some((&self.admin.record, &self.admin_digest)),
            owner: None,
            event,
        }
    }
}

/// A keyspace's lifecycle rules, each checked like the policy's.
fn keyspace_lifecycle(
    rotation_period_days: Option<u32>,
    disable_after_inactive_days: Option<u32>,
) -> Result<KeyspaceLifecycle, InvalidField> {
    Ok(KeyspaceLifecycle {
        rotation_period_days: rotation_period_days
            .map(|days| validate::lifecycle_days("rotation_period_days", days))
            .transpose()?,
        disable_after_inactive_days: disable_after_inactive_days
            .map(|days| validate::lifecycle_days("disable_after_inactive_days", days))
            .transpose()?,
    })
}

/// The scopes `actor` may put on a token of `keyspace`, normalized. A
/// management token carries only known management scopes, and only ones
/// the actor holds itself (no escalation); a customer token carries only
/// customer scopes, each covered by the keyspace's catalog when it has one.
pub(crate) fn grantable_scopes(
    actor: &Actor,
    keyspace: &Keyspace,
    requested: &[String],
) -> Result<Vec<String>, EngineError> {
    if !keyspace.management {
        let scopes = normalize_customer_scopes("scopes", requested)?;
        if let Some(catalog) = &keyspace.scope_catalog {
            if let Some(outside) = scopes.iter().find(|s| !catalog.iter().any(|entry| scope::grants(&entry.scope, s))) {
                const SHOWN: usize = 20;
                let mut known: Vec<&str> = catalog.iter().take(SHOWN).map(|entry| entry.scope.as_str()).collect();
                if catalog.len() > SHOWN {
                    known.push("…");
                }
                return Err(InvalidField::new(
                    "scopes",
                    format!(
                        "`{outside}` is not in the scope catalog of keyspace {}; it offers: {}",
                        keyspace.id,
                        if known.is_empty() { "nothing yet".to_owned() } else { known.join(", ") }
                    ),
                )
                .into());
            }
        }
        return Ok(scopes);
    }
    let scopes = scope::normalize(requested).map_err(|e| InvalidField::new("scopes", e.to_string()))?;
    if let Some(foreign) = scopes.iter().find(|s| !scope::is_management(s)) {
        return Err(InvalidField::new(
            "scopes",
            format!("`{foreign}` is not a management scope; management tokens carry only keyward:* scopes"),
        )
        .into());
    }
    if let Some(unknown) = scopes.iter().find(|s| !management::is_known(s)) {
        return Err(InvalidField::new(
            "scopes",
            format!("`{unknown}` is not a Keyward management scope; known: {}", management::ALL.join(", ")),
        )
        .into());
    }
    // No escalation: a token can only hand out what it holds itself.
    let beyond: Vec<String> = scopes.iter().filter(|s| !actor.holds(s)).cloned().collect();
    if !beyond.is_empty() {
        return Err(EngineError::Escalation { scopes: beyond });
    }
    Ok(scopes)
}

/// Fails with every broken rule explained, if any.
/// Fails for the revocation reasons only Keyward itself records.
pub(crate) fn refuse_reserved_reason(reason: RevokedReason) -> Result<(), InvalidField> {
    match reason {
        RevokedReason::Rotation | RevokedReason::MemberRemoved => Err(InvalidField::new(
            "reason",
            "is set by Keyward itself; use user_action, policy, leaked or suspicious_activity",
        )),
        _ => Ok(()),
    }
}

pub(crate) fn refuse_violations(policy: &TokenPolicy, violations: Vec<Violation>) -> Result<(), EngineError> {
    if violations.is_empty() {
        return Ok(());
    }
    let violations = violations.iter().map(|violation| PolicyProblem::explain(violation, policy)).collect();
    Err(EngineError::PolicyViolation { violations })
}

fn parse_allowed_ips(entries: &[String]) -> Result<Vec<IpNet>, InvalidField> {
    ip::parse_list(entries).map_err(|error| InvalidField::new("allowed_ips", error.to_string()))
}

/// Most entries in one scope catalog.
pub const MAX_CATALOG_SCOPES: usize = 256;

/// A catalog as given, checked: customer scopes without resource bindings
/// (bindings are chosen per token), each once, each described.
fn normalize_catalog(entries: &[CatalogScope]) -> Result<Vec<CatalogScope>, InvalidField> {
    if entries.len() > MAX_CATALOG_SCOPES {
        return Err(InvalidField::new("scopes", format!("a catalog holds at most {MAX_CATALOG_SCOPES} scopes")));
    }
    let mut seen = std::collections::HashSet::new();
    let mut catalog = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.scope.trim();
        scope::validate(name).map_err(|error| InvalidField::new("scopes", error.to_string()))?;
        if scope::is_management(name) {
            return Err(InvalidField::new("scopes", format!("`{name}` is reserved for Keyward's management keyspace")));
        }
        if name.contains('@') {
            return Err(InvalidField::new(
                "scopes",
                format!("`{name}`: catalog scopes have no resource binding; bindings are chosen per token"),
            ));
        }
        if !seen.insert(name.to_owned()) {
            return Err(InvalidField::new("scopes", format!("`{name}` is listed twice")));
        }
        let description = validate::description("scopes", &entry.description)
            .map_err(|error| InvalidField::new("scopes", format!("description of `{name}` {}", error.message)))?;
        catalog.push(CatalogScope { scope: name.to_owned(), description });
    }
    Ok(catalog)
}

fn normalize_customer_scopes(field: &'static str, scopes: &[String]) -> Result<Vec<String>, InvalidField> {
    let scopes = scope::normalize(scopes).map_err(|e| InvalidField::new(field, e.to_string()))?;
    if let Some(reserved) = scopes.iter().find(|s| scope::is_management(s)) {
        return Err(InvalidField::new(field, format!("`{reserved}` is reserved for Keyward's management keyspace")));
    }
    Ok(scopes)
}
