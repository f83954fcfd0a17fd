//! Bulk revocation: every active token of an owner, a keyspace or a name
//! prefix in one audited call, counted first with a dry run. The count can
//! be passed back so the revocation happens only if it still holds.

use keyward_core::audit::AuditEntry;
use keyward_core::id::{self, IdKind};
use keyward_core::model::{AuditEvent, RevokedReason, TokenRecord};
use keyward_core::scope::management;
use keyward_core::validate::{self, InvalidField};
use keyward_store::{BulkFilter, BulkRevocation};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::rules::refuse_reserved_reason;
use crate::EngineError;

/// The most tokens one selection may name: a screen's page, with room to spare.
pub const MAX_SELECTED: usize = 500;

/// Which tokens to revoke (all filters given must match; at least one of
/// `owner`, `keyspace_id`, `name_prefix`, `scope`), and how.
#[derive(Debug, Clone, Default)]
pub struct BulkRevoke {
    /// Only tokens of this owner.
    pub owner: Option<String>,
    /// Only tokens of this keyspace.
    pub keyspace_id: Option<String>,
    /// Only tokens whose name starts with this.
    pub name_prefix: Option<String>,
    /// Only tokens holding this exact scope (as granted: `invoices:*`
    /// matches tokens granted the wildcard, not those granted `invoices:read`).
    pub scope: Option<String>,
    /// Only these tokens (a selection); at most [`MAX_SELECTED`].
    pub ids: Vec<String>,
    /// Why (as for one revocation; `user_action` when `None`).
    pub reason: Option<RevokedReason>,
    /// Count only; change nothing.
    pub dry_run: bool,
    /// Revoke only if exactly this many match (the dry run's count).
    pub expected_count: Option<u64>,
}

/// What a bulk revocation matched, and revoked unless it was a dry run.
#[derive(Debug, Clone)]
pub struct BulkOutcome {
    /// Active tokens matching the filters (the caller's own token excluded).
    pub matched: u64,
    /// The tokens revoked (empty for a dry run).
    pub revoked: Vec<TokenRecord>,
}

impl Engine {
    /// Revokes every active token matching `request` in one transaction,
    /// logging one `token.bulk_revoked` event and one `token.revoked` per
    /// token; or, with `dry_run`, only counts them. The calling token is
    /// never included, so a caller cannot cut off its own access by accident.
    /// Developers may revoke only their own tokens.
    pub async fn bulk_revoke(&self, actor: &Actor, request: BulkRevoke) -> Result<BulkOutcome, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        let reason = request.reason.unwrap_or(RevokedReason::UserAction);
        refuse_reserved_reason(reason)?;
        let (scope, owner) = checked_selection(&request)?;
        let owner = self.owner_filter(actor.org_id(), owner).await?;
        if let Some(keyspace) = &request.keyspace_id {
            if !id::looks_like(IdKind::Keyspace, keyspace) {
                return Err(EngineError::NotFound("keyspace"));
            }
            self.ctx.store.get_keyspace(actor.org_id(), keyspace).await?.ok_or(EngineError::NotFound("keyspace"))?;
        }
        // A developer's bulk revocation is confined to their own tokens.
        let owner = match actor.principal.person() {
            Some((person, grant)) if !grant.role.manages_everyones_tokens() => {
                let own = person.to_owned();
                if owner.as_deref().is_some_and(|asked| asked != own) {
                    return Err(EngineError::NotOwner);
                }
                Some(own)
            }
            _ => owner,
        };
        let filter = BulkFilter {
            owner,
            keyspace_id: request.keyspace_id,
            name_prefix: request.name_prefix,
            scope,
            ids: request.ids,
            except_id: actor.principal.token_id().map(str::to_owned),
            now: self.ctx.now(),
        };
        if request.dry_run {
            let matched = self.ctx.store.count_matching(actor.org_id(), &filter).await?;
            return Ok(BulkOutcome { matched, revoked: Vec::new() });
        }
        let described = AuditEntry::TokensBulkRevoked {
            owner: filter.owner.as_deref(),
            keyspace_id: filter.keyspace_id.as_deref(),
            name_prefix: filter.name_prefix.as_deref(),
            scope: filter.scope.as_deref(),
            ids: &filter.ids,
            reason,
            expected_count: request.expected_count,
        };
        let event = self.ctx.event(actor, described, "organization", actor.org_id())?;
        let bulk_event_id = event.id.clone();
        let each = |token: &TokenRecord| -> Result<AuditEvent, keyward_store::StoreError> {
            self.ctx
                .event(
                    actor,
                    AuditEntry::TokenRevokedInBulk { reason, bulk_event_id: &bulk_event_id },
                    "token",
                    &token.id,
                )
                .map_err(|error| keyward_store::StoreError::Backend(Box::new(error)))
        };
        let outcome = self
            .ctx
            .store
            .revoke_matching(actor.org_id(), &filter, reason, request.expected_count, &event, &each)
            .await?;
        match outcome {
            BulkRevocation::CountChanged(now_matching) => Err(EngineError::Rejected {
                code: "count_changed",
                detail: format!(
                    "{now_matching} tokens match now, not the {} expected; nothing was revoked. Count again (dry run) and retry.",
                    request.expected_count.unwrap_or_default()
                ),
            }),
            BulkRevocation::Revoked(tokens) => {
                for token in &tokens {
                    self.ctx.cache.invalidate(&token.digest);
                }
                let matched = u64::try_from(tokens.len()).unwrap_or(u64::MAX);
                Ok(BulkOutcome { matched, revoked: tokens.into_iter().map(|token| token.record).collect() })
            }
        }
    }
}

/// The selection of `request`, checked: at least one criterion, at most
/// [`MAX_SELECTED`] well-formed ids, one scope, a valid owner and name
/// prefix. Answers the normalized scope and owner.
fn checked_selection(request: &BulkRevoke) -> Result<(Option<String>, Option<String>), EngineError> {
    if request.owner.is_none()
        && request.keyspace_id.is_none()
        && request.name_prefix.is_none()
        && request.scope.is_none()
        && request.ids.is_empty()
    {
        return Err(
            InvalidField::new("owner", "give at least one of owner, keyspace_id, name_prefix, scope or ids").into()
        );
    }
    if request.ids.len() > MAX_SELECTED {
        return Err(InvalidField::new("ids", format!("select at most {MAX_SELECTED} tokens at a time")).into());
    }
    if let Some(bad) = request.ids.iter().find(|id| !id::looks_like(IdKind::Token, id)) {
        // Ids are not secret, but echo only a bounded piece of whatever was sent.
        let shown: String = bad.chars().take(40).collect();
        return Err(InvalidField::new("ids", format!("“{shown}” is not a token id (tok_…)")).into());
    }
    let scope = request
        .scope
        .as_deref()
        .map(|scope| match keyward_core::scope::normalize(&[scope.to_owned()]) {
            Ok(mut list) if list.len() == 1 => Ok(list.remove(0)),
            Ok(_) => Err(InvalidField::new("scope", "must be one scope")),
            Err(error) => Err(InvalidField::new("scope", error.to_string())),
        })
        .transpose()?;
    let owner = request.owner.as_deref().map(validate::owner).transpose()?;
    if let Some(prefix) = &request.name_prefix {
        validate::name("name_prefix", prefix)?;
    }
    Ok((scope, owner))
}
