//! What a call naming a thing by id refuses before it looks that thing up:
//! the caller's scopes, then the request's own fields. Ids are parsed at
//! the edge, before the engine is called, but a malformed id must still be
//! judged in the old order (403, then 400, and only then 404), or a caller
//! without the scope would learn nothing new yet be audited differently.
//! The methods start with these checks, and the edge runs the same ones
//! for a malformed id, so the two cannot drift apart.

use keyward_core::id::{IdShapeError, InvitationId, KeyspaceId, OrgId, ServiceAccountId, TokenId, UserId, WebhookId};
use keyward_core::ip::IpNet;
use keyward_core::model::{CatalogScope, RevokedReason};
use keyward_core::scope::management;
use keyward_core::validate;
use keyward_store::KeyspaceLifecycle;

use crate::actor::Actor;
use crate::rotation::RotationRequest;
use crate::tokens::TokenChanges;
use crate::EngineError;

/// An id the engine's methods take (parsed as `FromStr`, the ids' own
/// shape check), and what they call an unknown one.
pub trait ParsedId: std::str::FromStr<Err = IdShapeError> {
    /// The thing named in "not found" (`EngineError::NotFound`).
    const UNKNOWN: &'static str;
}

macro_rules! parsed_id {
    ($($id:ty => $unknown:literal),* $(,)?) => {$(
        impl ParsedId for $id {
            const UNKNOWN: &'static str = $unknown;
        }
    )*};
}

parsed_id!(
    TokenId => "token",
    KeyspaceId => "keyspace",
    WebhookId => "webhook",
    UserId => "member",
    ServiceAccountId => "service account",
    InvitationId => "invitation",
    OrgId => "organization",
);

/// `text` as an id for a call, or the answer that call gave a malformed
/// one: whatever `before` (its checks above) refuses, else not found.
pub fn parse_id<T: ParsedId>(text: &str, before: impl FnOnce() -> Result<(), EngineError>) -> Result<T, EngineError> {
    text.parse::<T>().or_else(|_| {
        before()?;
        Err(EngineError::NotFound(T::UNKNOWN))
    })
}

/// Before `update_token` looks the token up; its checked name and allowlist.
pub fn token_changes(
    actor: &Actor,
    changes: &TokenChanges,
) -> Result<(Option<String>, Option<Vec<IpNet>>), EngineError> {
    actor.require(management::TOKENS_WRITE)?;
    crate::tokens::checked_changes(changes)
}

/// Before `revoke_token` and `revoke_token_with_descendants` look the token up.
pub fn revocation(actor: &Actor, reason: RevokedReason) -> Result<(), EngineError> {
    actor.require(management::TOKENS_WRITE)?;
    Ok(crate::rules::refuse_reserved_reason(reason)?)
}

/// Before `rotate_token` looks the token up.
pub fn rotation(actor: &Actor, request: &RotationRequest) -> Result<(), EngineError> {
    actor.require(management::TOKENS_WRITE)?;
    if let Some(seconds) = request.expires_in {
        validate::ttl_seconds("expires_in", seconds)?;
    }
    Ok(())
}

/// Before `rotate_webhook_secret` looks the endpoint up (reading it needs
/// the read scope too).
pub fn webhook_secret_rotation(actor: &Actor, overlap_seconds: i64) -> Result<(), EngineError> {
    actor.require(management::WEBHOOKS_WRITE)?;
    crate::webhooks::check_overlap(overlap_seconds)?;
    actor.require(management::WEBHOOKS_READ)
}

/// Before `set_keyspace_lifecycle` looks the keyspace up (reading it needs
/// the read scope too); the checked rules.
pub fn keyspace_lifecycle(
    actor: &Actor,
    rotation_period_days: Option<u32>,
    disable_after_inactive_days: Option<u32>,
) -> Result<KeyspaceLifecycle, EngineError> {
    actor.require(management::KEYSPACES_WRITE)?;
    let lifecycle = crate::keyspaces::keyspace_lifecycle(rotation_period_days, disable_after_inactive_days)?;
    actor.require(management::KEYSPACES_READ)?;
    Ok(lifecycle)
}

/// Before `replace_scope_catalog` looks the keyspace up (reading it needs
/// the read scope too); the checked catalog.
pub fn scope_catalog(
    actor: &Actor,
    catalog: Option<&[CatalogScope]>,
) -> Result<Option<Vec<CatalogScope>>, EngineError> {
    actor.require(management::KEYSPACES_WRITE)?;
    let catalog = catalog.map(crate::keyspaces::normalize_catalog).transpose()?;
    actor.require(management::KEYSPACES_READ)?;
    Ok(catalog)
}
