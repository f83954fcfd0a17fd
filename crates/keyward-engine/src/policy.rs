//! An organization's token policy: reading and replacing it, and finding
//! the tokens that break it.

use keyward_core::audit::AuditEntry;
use keyward_core::model::{Organization, TokenRecord};
use keyward_core::policy::{TokenPolicy, TokenShape, Violation};
use keyward_core::scope::management;
use keyward_store::{Page, PageRequest, TokenFilter};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::error::PolicyProblem;
use crate::EngineError;

/// A token that breaks its organization's current policy, and how.
#[derive(Debug, Clone)]
pub struct PolicyFinding {
    /// The token.
    pub token: TokenRecord,
    /// Every rule it breaks, explained.
    pub violations: Vec<PolicyProblem>,
}

impl Engine {
    /// The token policy of the actor's organization.
    pub async fn token_policy(&self, actor: &Actor) -> Result<TokenPolicy, EngineError> {
        let organization =
            self.ctx.store.get_organization(actor.org_id()).await?.ok_or(EngineError::NotFound("organization"))?;
        Ok(organization.token_policy)
    }

    /// Replaces the actor's organization's token policy. It applies to
    /// tokens created or changed from now on; existing tokens that break it
    /// are reported by [`Engine::policy_violations`], not touched.
    pub async fn set_token_policy(&self, actor: &Actor, policy: TokenPolicy) -> Result<Organization, EngineError> {
        actor.require(management::POLICIES_WRITE)?;
        let policy = policy.validate()?;
        let before = self.token_policy(actor).await?;
        let changed = AuditEntry::PolicyChanged { policy_before: &before, policy_after: &policy };
        let event = self.ctx.event(actor, changed, "organization", actor.org_id())?;
        self.ctx
            .store
            .set_token_policy(actor.org_id(), &policy, &event)
            .await?
            .ok_or(EngineError::NotFound("organization"))
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
        let now = self.ctx.now();
        let filter =
            TokenFilter { state: Some(keyward_core::model::TokenState::Active), now, ..TokenFilter::default() };
        let tokens = self.ctx.store.list_tokens(actor.org_id(), &filter, page).await?;
        let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut findings = Vec::new();
        for token in tokens.items {
            let mut violations = Engine::violations_of(&policy, &token);
            if let Some(limit) = policy.max_active_tokens_per_owner {
                let count = match counts.get(&token.owner) {
                    Some(count) => *count,
                    None => {
                        let count = self.ctx.store.count_active_tokens(actor.org_id(), &token.owner, now).await?;
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
}
