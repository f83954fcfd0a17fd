//! Tokens through their life: issuing, reading, changing, revoking, and
//! what their pages show of their use. Rotation, disabling, lineage and
//! bulk revocation have modules of their own.

use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditEntry, ScopesChanged, True};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{IdKind, TokenId};
use keyward_core::ip::IpNet;
use keyward_core::model::{AuditEvent, AutoRotate, Keyspace, RevokedReason, TokenRecord};
use keyward_core::policy::{TokenPolicy, Violation};
use keyward_core::scope::{self, management};
use keyward_core::validate::{self, InvalidField};
use keyward_core::{SecretToken, TokenDigest};
use keyward_store::{
    day_of, ActiveTokenLimit, DailyUsage, Page, PageRequest, TokenFilter, TokenUpdate, VerificationSample,
};
use serde_json::{json, Value};

use crate::activity::{TokenActivity, RECENT_VERIFICATIONS};
use crate::actor::Actor;
use crate::engine::Engine;
use crate::error::PolicyProblem;
use crate::lineage::{Bounded, ExpirySource, ParentBound};
use crate::rules::{grantable_scopes, parse_allowed_ips, refuse_violations};
use crate::EngineError;

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
    /// The request's `Idempotency-Key` (or a form's nonce): a second
    /// request with the same key makes nothing and is answered with
    /// [`EngineError::AlreadyCreated`].
    pub idempotency_key: Option<String>,
}

/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LENGTH: usize = 255;

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

impl Engine {
    /// Issues a token. The secret is in the result and nowhere else.
    ///
    /// With an idempotency key, a retried or resubmitted request finds the
    /// token the first one made, on any instance and after a restart (the
    /// key is stored with the token, unique in its organization), and is
    /// refused with [`EngineError::AlreadyCreated`]: the secret was shown
    /// to the first request only and is not kept.
    pub async fn issue_token(&self, actor: &Actor, mut input: NewToken) -> Result<Issued, EngineError> {
        let Some(key) = input.idempotency_key.take() else {
            return self.issue(actor, input, None).await;
        };
        actor.require(management::TOKENS_WRITE)?;
        check_idempotency_key(&key)?;
        let asked = (input.keyspace_id.clone(), input.name.trim().to_owned());
        if let Some(existing) = self.token_created_with_key(actor, &key).await? {
            return Err(already_created(actor, &existing, &asked, &key));
        }
        match self.issue(actor, input, Some(key.clone())).await {
            // Another request with the key won the race to the unique index.
            Err(EngineError::Conflict(what)) => match self.token_created_with_key(actor, &key).await? {
                Some(existing) => Err(already_created(actor, &existing, &asked, &key)),
                None => Err(EngineError::Conflict(what)),
            },
            other => other,
        }
    }

    /// The token of the actor's organization created with idempotency
    /// `key`, if any (a form checks before steps of its own).
    pub async fn token_created_with_key(&self, actor: &Actor, key: &str) -> Result<Option<TokenRecord>, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        let filter =
            TokenFilter { idempotency_key: Some(key.to_owned()), now: self.ctx.now(), ..TokenFilter::default() };
        let found = self.ctx.store.list_tokens(actor.org_id(), &filter, &PageRequest::new(Some(1), None)).await?;
        Ok(found.items.into_iter().next())
    }

    async fn issue(&self, actor: &Actor, input: NewToken, key: Option<String>) -> Result<Issued, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        let name = validate::name("name", &input.name)?;
        let owner = self.issued_owner(actor, input.owner.as_deref()).await?;
        let metadata = input.metadata.unwrap_or_else(|| json!({}));
        validate::metadata(&metadata)?;
        if !keyward_core::id::looks_like(IdKind::Keyspace, &input.keyspace_id) {
            return Err(EngineError::NotFound("keyspace"));
        }
        let keyspace = self
            .ctx
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
        let now = self.ctx.now();
        let (expires_at, expiry_source) =
            requested_expiry((input.expires_in, input.expires_at), &policy, &keyspace, now)?;
        // A management token planting a management token bounds it by
        // itself; customer tokens it issues are the keyspace's business.
        let Bounded { expires_at, allowed_ips, inherited, ceiling } =
            match ParentBound::of(actor).filter(|_| keyspace.management) {
                Some(bound) => bound.bound(expires_at, expiry_source, allowed_ips)?,
                None => Bounded { expires_at, allowed_ips, ..Bounded::default() },
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
            self.ctx.mint(&keyspace, name, owner, scopes, allowed_ips, now, expires_at, metadata, actor)?;
        record.rotation_period_days = rotation_period_days;
        record.auto_rotate = auto_rotate;
        record.expiry_ceiling = ceiling;
        record.idempotency_key = key;
        let limit = self.refuse_new_token_violations(actor, &policy, &record, now).await?;
        let digest = TokenDigest::of(secret.expose());
        let event = self.ctx.event(actor, created(&record, &inherited), "token", &record.id)?;
        self.ctx.store.create_token(&record, &digest, &event, limit).await.map_err(|error| match error {
            keyward_store::StoreError::MissingReference(_) => EngineError::NotFound("keyspace"),
            keyward_store::StoreError::LimitReached(_) => EngineError::PolicyViolation {
                violations: vec![PolicyProblem::explain(&Violation::OwnerOverLimit, &policy)],
            },
            other => other.into(),
        })?;
        // A concurrent verify of this digest (possible only by guessing it)
        // may have cached its absence; the new token must verify at once.
        self.ctx.cache.invalidate(&digest);
        Ok(Issued { secret, record, inherited_from_parent: inherited })
    }

    /// Whom a new token belongs to: `owner`, or the actor's own owner;
    /// the actor must manage that owner's tokens, and the owner must belong here.
    async fn issued_owner(&self, actor: &Actor, owner: Option<&str>) -> Result<String, EngineError> {
        let owner = match owner {
            Some(owner) => validate::owner(owner)?,
            None => actor.principal.owner().to_owned(),
        };
        actor.require_manages_tokens_of(&owner)?;
        // A caller's own membership was read when it authenticated (and is
        // cached with its token, dropped when the membership changes), so
        // only another owner costs a round trip.
        if actor.principal.person().is_none_or(|(person, _)| person != owner) {
            self.check_owner(actor.org_id(), &owner).await?;
        }
        Ok(owner)
    }

    /// Fails with every rule of `policy` a new `record` would break, the
    /// owner's active-token limit included; answers that limit, for the
    /// store to enforce at insert.
    async fn refuse_new_token_violations(
        &self,
        actor: &Actor,
        policy: &TokenPolicy,
        record: &TokenRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveTokenLimit>, EngineError> {
        let mut violations = Engine::violations_of(policy, record);
        let limit = policy.max_active_tokens_per_owner.map(|max| ActiveTokenLimit { max: u64::from(max), now });
        if let Some(limit) = limit {
            // Counted here too so that one answer lists every broken rule;
            // the store's check at insert is the one races cannot pass.
            if self.ctx.store.count_active_tokens(actor.org_id(), &record.owner, now).await? >= limit.max {
                violations.push(Violation::OwnerOverLimit);
            }
        }
        refuse_violations(policy, violations)?;
        Ok(limit)
    }

    /// One token.
    pub async fn get_token(&self, actor: &Actor, id: &TokenId) -> Result<TokenRecord, EngineError> {
        actor.require(management::TOKENS_READ)?;
        self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))
    }

    /// Tokens matching `filter` (its `now` is set here), newest first.
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        mut filter: TokenFilter,
        page: &PageRequest,
    ) -> Result<Page<TokenRecord>, EngineError> {
        actor.require(management::TOKENS_READ)?;
        filter.now = self.ctx.now();
        filter.owner = self.owner_filter(actor.org_id(), filter.owner).await?;
        Ok(self.ctx.store.list_tokens(actor.org_id(), &filter, page).await?)
    }

    /// Renames a token, or replaces its metadata, scopes or IP allowlist.
    /// New scopes obey the same rules as at issue; scopes that grant more
    /// than before need `confirm_broader_scopes`, and the audit event keeps
    /// the scopes before and after.
    pub async fn update_token(
        &self,
        actor: &Actor,
        id: &TokenId,
        changes: TokenChanges,
    ) -> Result<TokenRecord, EngineError> {
        let (name, allowed_ips) = crate::prechecks::token_changes(actor, &changes)?;
        self.require_manages_token(actor, id).await?;
        let mut if_scopes_are = None;
        // Scope and allowlist changes are judged against the current record.
        let current = match changes.scopes.is_some() || allowed_ips.is_some() {
            true => Some(self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?),
            false => None,
        };
        // A token may not widen a management token's networks beyond its
        // own, any more than it could have minted it so.
        let allowed_ips = match (allowed_ips, &current, ParentBound::of(actor)) {
            (Some(list), Some(current), Some(bound)) if current.management => Some(bound.networks(list, false)?.0),
            (list, _, _) => list,
        };
        let (scopes, broadened) = match (&changes.scopes, &current) {
            (Some(requested), Some(current)) => {
                let (scopes, broadened) =
                    self.changed_scopes(actor, current, requested, changes.confirm_broader_scopes).await?;
                // The widening check holds only for these old scopes.
                if_scopes_are = Some(current.scopes.clone());
                (Some(scopes), broadened)
            }
            _ => (None, false),
        };
        if let Some(current) = &current {
            self.refuse_introduced_violations(actor, current, scopes.as_ref(), allowed_ips.as_ref()).await?;
        }
        let rotation_period_days = changes
            .rotation_period_days
            .map(|days| days.map(|days| validate::lifecycle_days("rotation_period_days", days)).transpose())
            .transpose()?;
        let auto_rotate = match changes.auto_rotate {
            Some(Some(auto)) => Some(Some(self.changed_auto_rotate(actor, id, auto, rotation_period_days).await?)),
            other => other,
        };
        let updated = AuditEntry::TokenUpdated {
            name: name.as_deref(),
            metadata_replaced: changes.metadata.is_some().then_some(True),
            allowed_ips: allowed_ips.as_deref(),
            rotation_period_days,
            auto_rotate: auto_rotate.as_ref().map(Option::as_ref),
            scopes: match (&if_scopes_are, &scopes) {
                (Some(before), Some(after)) => {
                    Some(ScopesChanged { scopes_before: before, scopes_after: after, broadened })
                }
                _ => None,
            },
        };
        let event = self.ctx.event(actor, updated, "token", id)?;
        let update = TokenUpdate {
            name,
            metadata: changes.metadata,
            scopes,
            allowed_ips,
            rotation_period_days,
            auto_rotate,
            if_scopes_are,
        };
        self.write_update(actor, id, &update, &event).await
    }

    /// Writes a checked update with its event, and drops the cached token.
    async fn write_update(
        &self,
        actor: &Actor,
        id: &str,
        update: &TokenUpdate,
        event: &AuditEvent,
    ) -> Result<TokenRecord, EngineError> {
        let stored = self
            .ctx
            .store
            .update_token(actor.org_id(), id, update, event)
            .await?
            .ok_or(EngineError::NotFound("token"))?;
        self.ctx.cache.invalidate(&stored.digest);
        Ok(stored.record)
    }

    /// New scopes for `current`, checked as at issue, and whether they grant
    /// more than before (which needs `confirmed`).
    async fn changed_scopes(
        &self,
        actor: &Actor,
        current: &TokenRecord,
        requested: &[String],
        confirmed: bool,
    ) -> Result<(Vec<String>, bool), EngineError> {
        let keyspace =
            self.ctx.store.get_keyspace(actor.org_id(), &current.keyspace_id).await?.ok_or_else(|| {
                EngineError::Store(keyward_store::StoreError::Corrupt("token without keyspace".into()))
            })?;
        let scopes = grantable_scopes(actor, &keyspace, requested)?;
        let broader: Vec<String> =
            scopes.iter().filter(|new| !current.scopes.iter().any(|old| scope::grants(old, new))).cloned().collect();
        if !broader.is_empty() && !confirmed {
            return Err(EngineError::ConfirmationRequired { broader });
        }
        Ok((scopes, !broader.is_empty()))
    }

    /// Fails when changing `current`'s scopes or allowlist would break a
    /// rule of the policy. Only what the change touches counts: older
    /// violations elsewhere (say, no expiry) do not block it.
    async fn refuse_introduced_violations(
        &self,
        actor: &Actor,
        current: &TokenRecord,
        scopes: Option<&Vec<String>>,
        allowed_ips: Option<&Vec<IpNet>>,
    ) -> Result<(), EngineError> {
        let policy = self.token_policy(actor).await?;
        let changed = TokenRecord {
            scopes: scopes.cloned().unwrap_or_else(|| current.scopes.clone()),
            allowed_ips: allowed_ips.cloned().unwrap_or_else(|| current.allowed_ips.clone()),
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
        refuse_violations(&policy, introduced)
    }

    /// Automatic rotation for token `id`, checked against the period that
    /// will make it due: its own (as changed by this call, or as stored),
    /// else its keyspace's.
    async fn changed_auto_rotate(
        &self,
        actor: &Actor,
        id: &str,
        auto: AutoRotate,
        rotation_period_days: Option<Option<u32>>,
    ) -> Result<AutoRotate, EngineError> {
        let token = self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
        // Keyward's scheduler rotates as itself, bounded by nothing but the
        // token's own ceiling: a bounded token may not arrange a rotation
        // of a management token that would outlive it, with the secret
        // handed to an endpoint of its choosing.
        if let Some(bound) = ParentBound::of(actor).filter(|bound| token.management && bound.binds()) {
            if !bound.holds(token.expiry_ceiling, &token.allowed_ips) {
                return Err(EngineError::ExceedsParentBounds {
                    field: "auto_rotate",
                    detail: "this token expires or is limited to networks, but automatic rotation of that \
                             management token would make successors beyond those bounds; set it from a signed-in \
                             session or an unrestricted token."
                        .into(),
                });
            }
        }
        let own = rotation_period_days.unwrap_or(token.rotation_period_days);
        let keyspace = self.ctx.store.get_keyspace(actor.org_id(), &token.keyspace_id).await?;
        let period = own.or(keyspace.and_then(|keyspace| keyspace.rotation_period_days));
        let policy = self.token_policy(actor).await?;
        self.checked_auto_rotate(actor.org_id(), &policy, auto, period).await
    }

    /// Revokes a token, immediately and idempotently, for `reason` (a
    /// second revocation keeps the first one's time and reason).
    /// `rotation` and `member_removed` are Keyward's own reasons, not given by callers.
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        id: &TokenId,
        reason: RevokedReason,
    ) -> Result<TokenRecord, EngineError> {
        crate::prechecks::revocation(actor, reason)?;
        self.require_manages_token(actor, id).await?;
        let now = self.ctx.now();
        let event = self.ctx.event(actor, AuditEntry::TokenRevoked { reason }, "token", id)?;
        let revocation = self
            .ctx
            .store
            .revoke_token(actor.org_id(), id, now, reason, &event)
            .await?
            .ok_or(EngineError::NotFound("token"))?;
        self.ctx.cache.invalidate(&revocation.token.digest);
        Ok(revocation.token.record)
    }

    /// Fails unless the actor may change token `id`: developers change only
    /// tokens they own (an owner never changes, so the check cannot go stale).
    pub(crate) async fn require_manages_token(&self, actor: &Actor, id: &str) -> Result<(), EngineError> {
        if actor.principal.person().is_some_and(|(_, grant)| !grant.role.manages_everyones_tokens()) {
            let token = self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
            actor.require_manages_tokens_of(&token.owner)?;
        }
        Ok(())
    }

    /// A token's successful verifications per day over the last `days` UTC
    /// days (today included) and its newest verification samples.
    pub async fn token_activity(&self, actor: &Actor, id: &TokenId, days: u32) -> Result<TokenActivity, EngineError> {
        actor.require(management::TOKENS_READ)?;
        let today = day_of(self.ctx.now());
        let first = today - i64::from(days.max(1)) + 1;
        let counted = self.ctx.store.usage_by_day(actor.org_id(), id, first).await?;
        let days = (first..=today)
            .map(|day| DailyUsage {
                day,
                uses: counted.iter().find(|counted| counted.day == day).map_or(0, |counted| counted.uses),
            })
            .collect();
        let recent = self.ctx.store.recent_verifications(actor.org_id(), id, RECENT_VERIFICATIONS).await?;
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
        let samples = self.ctx.store.last_successful_verifications(actor.org_id(), ids).await?;
        Ok(samples.into_iter().map(|sample| (sample.token_id.clone(), sample)).collect())
    }
}

/// The expiry a new token asks for (as a lifetime in seconds or exactly,
/// or the policy's or keyspace's default when it asks for neither),
/// checked, and whether it was asked for.
fn requested_expiry(
    (expires_in, expires_at): (Option<i64>, Option<DateTime<Utc>>),
    policy: &TokenPolicy,
    keyspace: &Keyspace,
    now: DateTime<Utc>,
) -> Result<(Option<DateTime<Utc>>, ExpirySource), EngineError> {
    let source = match (expires_in, expires_at) {
        (None, None) => ExpirySource::Defaulted,
        _ => ExpirySource::Requested,
    };
    let expires_at = match (expires_in, expires_at) {
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
    Ok((expires_at, source))
}

/// The new name and allowlist of `changes`, checked; fails for changes
/// that change nothing.
pub(crate) fn checked_changes(changes: &TokenChanges) -> Result<(Option<String>, Option<Vec<IpNet>>), EngineError> {
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
    Ok((name, allowed_ips))
}

/// Fails unless an idempotency key is 1 to [`MAX_IDEMPOTENCY_KEY_LENGTH`] visible
/// ASCII characters (a UUID, say).
fn check_idempotency_key(key: &str) -> Result<(), InvalidField> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LENGTH || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidField::new(
            "idempotency_key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters, such as a UUID"),
        ));
    }
    Ok(())
}

/// The answer to a request whose idempotency key made `existing` already:
/// [`EngineError::AlreadyCreated`] when it asks for the same token (same
/// keyspace and name) and the actor may see it; otherwise the key was
/// reused for something else, which is refused without naming the token.
fn already_created(
    actor: &Actor,
    existing: &TokenRecord,
    (keyspace_id, name): &(String, String),
    key: &str,
) -> EngineError {
    let same = existing.keyspace_id == *keyspace_id && existing.name == *name;
    if same && actor.require_manages_tokens_of(&existing.owner).is_ok() {
        return EngineError::AlreadyCreated { token_id: existing.id.clone(), created_at: existing.created_at };
    }
    EngineError::Rejected {
        code: "idempotency_key_reused",
        detail: format!(
            "The idempotency key {key:?} was used by an earlier request for a different token; send a new key \
             for a new token."
        ),
    }
}

/// The `token.created` entry of a token issued (not rotated) as `record`.
fn created<'a>(record: &'a TokenRecord, inherited: &'a [&'a str]) -> AuditEntry<'a> {
    AuditEntry::TokenCreated {
        keyspace_id: &record.keyspace_id,
        name: &record.name,
        owner: &record.owner,
        scopes: &record.scopes,
        allowed_ips: &record.allowed_ips,
        expires_at: record.expires_at,
        rotation_period_days: record.rotation_period_days,
        auto_rotate: record.auto_rotate.as_ref(),
        parent_token_id: record.parent_token_id.as_deref(),
        inherited_from_parent: inherited,
    }
}
