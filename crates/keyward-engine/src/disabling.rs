//! Stopping a token short of revocation, and removing one for good.
//!
//! Disabling is the reversible stop (a token under investigation, a job
//! paused for the holidays): the token answers `DISABLED` until it is
//! enabled again. Deletion is permanent: the token's record goes, its audit
//! trail stays. Revocation stays final either way: a revoked token is
//! neither disabled nor enabled.

use keyward_core::audit::AuditEntry;
use keyward_core::id::TokenId;
use keyward_core::model::{DisabledReason, TokenRecord};
use keyward_core::scope::management;
use keyward_store::{Guarded, Switch};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::EngineError;

impl Engine {
    /// Disables a token at once and idempotently (a second call keeps the
    /// first one's time). Refused for a revoked token.
    pub async fn disable_token(&self, actor: &Actor, id: &TokenId) -> Result<TokenRecord, EngineError> {
        let now = self.ctx.now();
        let reason = DisabledReason::UserAction;
        self.switch(actor, id, Switch::Disable(now, reason), AuditEntry::TokenDisabled { reason }).await
    }

    /// Enables a disabled token again, idempotently. It verifies at once,
    /// unless it expired meanwhile; inactivity is counted afresh from now.
    /// Refused for a revoked token.
    pub async fn enable_token(&self, actor: &Actor, id: &TokenId) -> Result<TokenRecord, EngineError> {
        let now = self.ctx.now();
        self.switch(actor, id, Switch::Enable(now), AuditEntry::TokenEnabled {}).await
    }

    async fn switch(
        &self,
        actor: &Actor,
        id: &TokenId,
        switch: Switch,
        entry: AuditEntry<'_>,
    ) -> Result<TokenRecord, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        self.require_manages_token(actor, id).await?;
        let event = self.ctx.event(actor, entry, "token", id)?;
        match self.ctx.store.switch_token(actor.org_id(), id, switch, &event).await? {
            Guarded::Applied(switched) => {
                self.ctx.cache.invalidate(&switched.token.digest);
                Ok(switched.token.record)
            }
            Guarded::Refused(_) => Err(EngineError::Rejected {
                code: "token_revoked",
                detail: "The token is revoked, and revocation is final; issue a new token instead.".into(),
            }),
            Guarded::Missing => Err(EngineError::NotFound("token")),
        }
    }

    /// Deletes a token for good: it stops verifying at once (as `NOT_FOUND`)
    /// and its record is gone; the audit log keeps its history, and the
    /// deletion event keeps what identified it. Answers the record as it was.
    pub async fn delete_token(&self, actor: &Actor, id: &TokenId) -> Result<TokenRecord, EngineError> {
        actor.require(management::TOKENS_WRITE)?;
        let token = self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
        actor.require_manages_tokens_of(&token.owner)?;
        let now = self.ctx.now().timestamp_micros();
        let entry = AuditEntry::TokenDeleted {
            name: &token.name,
            masked: token.masked(),
            keyspace_id: &token.keyspace_id,
            owner: &token.owner,
            state: token.state_at(now),
            created_at: token.created_at,
        };
        let event = self.ctx.event(actor, entry, "token", id)?;
        let deleted =
            self.ctx.store.delete_token(actor.org_id(), id, &event).await?.ok_or(EngineError::NotFound("token"))?;
        self.ctx.cache.invalidate(&deleted.digest);
        Ok(deleted.record)
    }
}
