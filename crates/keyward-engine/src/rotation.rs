//! Rotation without downtime: a token is replaced by a new one with the same
//! name, scopes, owner, metadata and allowlist, and the old one keeps
//! verifying for a grace period, during which its owner sees which clients
//! still use it and may extend the grace or end it early.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use keyward_core::audit::AuditEntry;
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::TokenId;
use keyward_core::ip::IpNet;
use keyward_core::model::{AuditEvent, AutoRotate, Keyspace, TokenRecord, TokenState};
use keyward_core::policy::{TokenPolicy, Violation};
use keyward_core::scope::management;
use keyward_core::validate::InvalidField;
use keyward_core::{SecretToken, TokenDigest};
use keyward_store::{ClientSighting, Guarded, Handoff, RotationWrite};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::lineage::{Bounded, ExpirySource, ParentBound};
use crate::rules::{grantable_scopes, refuse_violations};
use crate::tokens::Issued;
use crate::EngineError;

/// Input for a rotation.
#[derive(Debug, Clone, Default)]
pub struct RotationRequest {
    /// How long the old token keeps verifying, in seconds; 0 revokes it at
    /// once. At most the organization's `max_rotation_grace_seconds`.
    pub grace_period_seconds: i64,
    /// Lifetime of the new token in seconds; by default the old token's
    /// lifetime, counted from now.
    pub expires_in: Option<i64>,
}

/// A rotation done: the new token (its secret shown once) and the old one
/// as it is now.
#[derive(Debug)]
pub struct Rotated {
    /// The replacement.
    pub issued: Issued,
    /// The replaced token: `replaced_by` set, `expires_at` at the grace end
    /// (or revoked, for a grace period of 0).
    pub old: TokenRecord,
}

/// Why `token` cannot be rotated or have its grace moved at `now`, if it cannot.
fn unrotatable(token: &TokenRecord, now: i64) -> Option<EngineError> {
    let (code, detail) = match token.state_at(now) {
        TokenState::Revoked => ("token_revoked", "The token is revoked; issue a new token instead.".to_owned()),
        TokenState::Expired => ("token_expired", "The token has expired; issue a new token instead.".to_owned()),
        TokenState::Disabled => ("token_disabled", "The token is disabled; enable it first.".to_owned()),
        TokenState::Active => match token.replaced_by() {
            Some(successor) => (
                "token_already_rotated",
                format!("The token was already rotated into {successor}; rotate that token instead."),
            ),
            None => return None,
        },
    };
    Some(EngineError::Rejected { code, detail })
}

/// Checks a grace period against the policy's maximum.
fn grace_seconds(field: &'static str, seconds: i64, policy: &TokenPolicy) -> Result<i64, InvalidField> {
    let limit = policy.rotation_grace_limit();
    if seconds < 0 {
        return Err(InvalidField::new(field, "must be 0 (end now) or a positive number of seconds"));
    }
    if seconds > limit {
        return Err(InvalidField::new(
            field,
            format!("must be at most {limit} seconds, the organization's maximum grace period"),
        ));
    }
    Ok(seconds)
}

impl Engine {
    /// Replaces a token by a new one with the same name, scopes, owner,
    /// metadata and allowlist, linked both ways. The old token verifies
    /// until the grace period ends, then answers `EXPIRED` with the cause
    /// `ROTATION_GRACE_ENDED`; a grace period of 0 revokes it now (reason
    /// `rotation`). The new secret is in the result and nowhere else.
    pub async fn rotate_token(
        &self,
        actor: &Actor,
        id: &TokenId,
        request: RotationRequest,
    ) -> Result<Rotated, EngineError> {
        crate::prechecks::rotation(actor, &request)?;
        let old = self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
        actor.require_manages_tokens_of(&old.owner)?;
        let policy = self.token_policy(actor).await?;
        let grace = grace_seconds("grace_period", request.grace_period_seconds, &policy)?;
        let now = self.ctx.now();
        if let Some(refusal) = unrotatable(&old, now.timestamp_micros()) {
            return Err(refusal);
        }
        self.replace(actor, &old, &policy, grace, request.expires_in, None).await
    }

    /// The rotation itself, once the caller is allowed and the grace
    /// checked: mints the successor, and writes it, the old token's fate,
    /// their events and (for an automatic rotation) the handoff of the new
    /// secret to its endpoint in one transaction.
    pub(crate) async fn replace(
        &self,
        actor: &Actor,
        old: &TokenRecord,
        policy: &TokenPolicy,
        grace: i64,
        expires_in: Option<i64>,
        handoff_to: Option<&AutoRotate>,
    ) -> Result<Rotated, EngineError> {
        let org_id = old.org_id.as_str();
        let now = self.ctx.now();
        let keyspace =
            self.ctx.store.get_keyspace(org_id, &old.keyspace_id).await?.ok_or_else(|| {
                EngineError::Store(keyward_store::StoreError::Corrupt("token without keyspace".into()))
            })?;
        // The caller grants the new token its scopes, so it must be able to:
        // rotation is no way around "never grant what you do not hold".
        let scopes = grantable_scopes(actor, &keyspace, &old.scopes)?;
        let lifetime = match expires_in {
            Some(seconds) => Some(TimeDelta::seconds(seconds)),
            None => old.expires_at_before_rotation().or(old.expires_at).map(|end| end - old.created_at),
        };
        let expires_at = lifetime.map(|lifetime| micros_to_datetime((now + lifetime).timestamp_micros()));
        if old.management {
            self.require_recent_password(actor)?;
        }
        let Bounded { expires_at, allowed_ips, inherited, ceiling } =
            Self::successor_bounds(actor, old, expires_at, expires_in.is_none())?;
        // A successor that would be born expired helps nobody (and an
        // automatic rotation would hand its dead secret over).
        if expires_at.is_some_and(|at| at <= now) {
            return Err(EngineError::Rejected {
                code: "expiry_ceiling_passed",
                detail: "The token's expiry ceiling (the expiry of the token that bounded it) has passed, so a \
                         rotation would make a token that is already expired; issue a new token instead."
                    .into(),
            });
        }
        let (secret, mut record) = self.successor(actor, old, &keyspace, (scopes, allowed_ips), now, expires_at)?;
        record.expiry_ceiling = ceiling;
        // Only what the rotation itself could break: an old token made
        // before a stricter rule is replaced, not refused.
        let introduced: Vec<Violation> = Engine::violations_of(policy, &record)
            .into_iter()
            .filter(|violation| matches!(violation, Violation::LifetimeTooLong))
            .collect();
        refuse_violations(policy, introduced)?;
        let grace_ends_at = (grace > 0).then(|| now + TimeDelta::seconds(grace));
        let digest = TokenDigest::of(secret.expose());
        let events = self.rotation_events(actor, old, &record, grace, grace_ends_at, &inherited)?;
        let sealed_handoff = match handoff_to {
            Some(auto) => Some((auto, self.seal_handoff(actor, old, &record, &secret, auto, grace_ends_at)?)),
            None => None,
        };
        let rotation = RotationWrite {
            old_id: &old.id,
            at: now,
            grace_ends_at,
            new_token: &record,
            new_digest: &digest,
            events: &events,
            handoff: sealed_handoff.as_ref().map(|(auto, (event, sealed))| Handoff {
                endpoint_id: &auto.webhook_id,
                event,
                sealed_token: sealed,
            }),
        };
        let old = match self.ctx.store.rotate_token(org_id, &rotation).await? {
            Guarded::Applied(old) => old,
            // A concurrent change won; say what it did.
            Guarded::Refused(current) => {
                return Err(unrotatable(&current, now.timestamp_micros())
                    .unwrap_or_else(|| EngineError::Conflict("the token changed concurrently".into())))
            }
            Guarded::Missing => return Err(EngineError::NotFound("token")),
        };
        self.ctx.cache.invalidate(&old.digest);
        self.ctx.cache.invalidate(&digest);
        Ok(Rotated { issued: Issued { secret, record, inherited_from_parent: inherited }, old: old.record })
    }

    /// The successor's expiry and networks, with the fields it took from
    /// the bound, and the ceiling it carries on. Rotation is no way around
    /// a bound: a short-lived token rotating a management token (itself
    /// included) gets a successor that ends no later than it does, and a
    /// management token bounded once (minted or founded by an expiring
    /// token) keeps that ceiling through every rotation, by a person or by
    /// the scheduler too.
    fn successor_bounds(
        actor: &Actor,
        old: &TokenRecord,
        expires_at: Option<DateTime<Utc>>,
        defaulted: bool,
    ) -> Result<Bounded, EngineError> {
        let Some(bound) = ParentBound::of_successor(actor, old) else {
            return Ok(Bounded { expires_at, allowed_ips: old.allowed_ips.clone(), ..Bounded::default() });
        };
        let source = if defaulted { ExpirySource::Defaulted } else { ExpirySource::Requested };
        let (expires_at, took_expiry) = bound.expiry(expires_at, source)?;
        let inherited = if took_expiry { vec![crate::INHERITED_EXPIRY] } else { Vec::new() };
        Ok(Bounded {
            expires_at,
            allowed_ips: bound.networks(old.allowed_ips.clone(), false)?.0,
            inherited,
            ceiling: bound.ceiling(),
        })
    }

    /// The successor of `old`: its name, owner, metadata and rotation
    /// settings, with the scopes and networks given, linked back to `old`.
    fn successor(
        &self,
        actor: &Actor,
        old: &TokenRecord,
        keyspace: &Keyspace,
        (scopes, allowed_ips): (Vec<String>, Vec<IpNet>),
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(SecretToken, TokenRecord), EngineError> {
        let (secret, mut record) = self.ctx.mint(
            keyspace,
            old.name.clone(),
            old.owner.clone(),
            scopes,
            allowed_ips,
            now,
            expires_at,
            old.metadata.clone(),
            actor,
        )?;
        // A rotation no token made (a person's, the scheduler's) keeps the
        // replaced token's place in its lineage, so automatic rotation is no
        // way out of a revocation with descendants.
        if record.parent_token_id.is_none() {
            record.parent_token_id = old.parent_token_id.clone();
        }
        record.rotated_from = Some(old.id.clone());
        record.rotation_period_days = old.rotation_period_days;
        record.auto_rotate = old.auto_rotate.clone();
        Ok((secret, record))
    }

    /// The two events of a rotation: the old token's, and its successor's creation.
    fn rotation_events(
        &self,
        actor: &Actor,
        old: &TokenRecord,
        record: &TokenRecord,
        grace: i64,
        grace_ends_at: Option<DateTime<Utc>>,
        inherited: &[&'static str],
    ) -> Result<[AuditEvent; 2], EngineError> {
        let org_id = old.org_id.as_str();
        Ok([
            self.ctx.event_in(
                org_id,
                actor,
                AuditEntry::TokenRotated { replaced_by: &record.id, grace_period_seconds: grace, grace_ends_at },
                "token",
                &old.id,
            )?,
            self.ctx.event_in(
                org_id,
                actor,
                AuditEntry::TokenCreatedByRotation {
                    keyspace_id: &record.keyspace_id,
                    name: &record.name,
                    owner: &record.owner,
                    scopes: &record.scopes,
                    allowed_ips: &record.allowed_ips,
                    expires_at: record.expires_at,
                    rotated_from: &old.id,
                    parent_token_id: record.parent_token_id.as_deref(),
                    inherited_from_parent: inherited,
                },
                "token",
                &record.id,
            )?,
        ])
    }

    /// Moves the end of a rotated token's grace period to `ends_in_seconds`
    /// from now: later to give slow clients time (never past the token's
    /// own expiry), or 0 to end it now once nothing uses it any more.
    pub async fn set_rotation_grace(
        &self,
        actor: &Actor,
        id: &TokenId,
        ends_in_seconds: i64,
    ) -> Result<TokenRecord, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        let policy = self.token_policy(actor).await?;
        let seconds = grace_seconds("ends_in", ends_in_seconds, &policy)?;
        let current = self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
        actor.require_manages_tokens_of(&current.owner)?;
        let now = self.ctx.now();
        let not_in_grace = |token: &TokenRecord| match token.state_at(now.timestamp_micros()) {
            TokenState::Active if !token.is_replaced() => EngineError::Rejected {
                code: "not_in_rotation_grace",
                detail: "The token has not been rotated, so it has no grace period; rotate it first.".into(),
            },
            _ => unrotatable(token, now.timestamp_micros()).unwrap_or_else(|| EngineError::Rejected {
                code: "not_in_rotation_grace",
                detail: "The token's grace period has ended.".into(),
            }),
        };
        if !current.in_rotation_grace(now.timestamp_micros()) {
            return Err(not_in_grace(&current));
        }
        let ends_at = now + TimeDelta::seconds(seconds);
        let changed = AuditEntry::TokenGraceChanged {
            grace_ends_at_before: current.expires_at,
            requested_grace_ends_at: ends_at,
        };
        let event = self.ctx.event(actor, changed, "token", id)?;
        let token = match self.ctx.store.set_rotation_grace(actor.org_id(), id, ends_at, now, &event).await? {
            Guarded::Applied(token) => token,
            Guarded::Refused(token) => return Err(not_in_grace(&token)),
            Guarded::Missing => return Err(EngineError::NotFound("token")),
        };
        self.ctx.cache.invalidate(&token.digest);
        Ok(token.record)
    }

    /// Clients seen using a token during its rotation grace period (address,
    /// user agent, uses, first and last seen), most recent first. Written
    /// with usage, about once a second.
    pub async fn token_clients(&self, actor: &Actor, id: &TokenId) -> Result<Vec<ClientSighting>, EngineError> {
        actor.require(management::TOKENS_READ)?;
        self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
        Ok(self.ctx.store.list_token_clients(actor.org_id(), id).await?)
    }
}
