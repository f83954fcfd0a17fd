//! People named by email where an id is expected: `owner` and `actor`
//! filters take a member's email as well as their `usr_…` id, because the
//! email is what a person knows about a colleague.
//!
//! Every lookup stays inside the caller's organization: an email of an
//! account elsewhere resolves to nothing, answered exactly like an email
//! nobody has.

use keyward_core::validate::InvalidField;
use keyward_store::{AuditFilter, PageRequest, TokenFilter};

use crate::engine::Engine;
use crate::EngineError;

impl Engine {
    /// The account with `email` (compared as stored: trimmed, lower case)
    /// and whether it is a member of `org`.
    async fn account_with_email(&self, org: &str, email: &str) -> Result<Option<(String, bool)>, EngineError> {
        let Some(user) = self.ctx.store.find_user_by_email(&email.trim().to_lowercase()).await? else {
            return Ok(None);
        };
        let member = self.ctx.store.get_member(org, &user.id).await?.is_some();
        Ok(Some((user.id, member)))
    }

    /// An owner filter as the store compares it. An owner may be free text,
    /// an address among others (`team@example.com`), so the text wins while
    /// any token of `org` is owned by it: those tokens keep matching, even
    /// after someone with that address joins. Otherwise a member's email
    /// becomes their id; any other text stays as given.
    pub(crate) async fn owner_filter(&self, org: &str, owner: Option<String>) -> Result<Option<String>, EngineError> {
        let text = match owner {
            Some(text) if text.contains('@') => text,
            other => return Ok(other),
        };
        let text_owned = TokenFilter { owner: Some(text.clone()), now: self.ctx.now(), ..TokenFilter::default() };
        let one = PageRequest::new(Some(1), None);
        if !self.ctx.store.list_tokens(org, &text_owned, &one).await?.items.is_empty() {
            return Ok(Some(text));
        }
        match self.account_with_email(org, &text).await? {
            Some((id, true)) => Ok(Some(id)),
            _ => Ok(Some(text)),
        }
    }

    /// An actor filter as the store compares it. Actors are ids (tokens,
    /// users, `system`), never free text, so an email is resolved to a
    /// member, or to a former member who acted here (their events stay in
    /// the log after they leave); one that names neither is an error rather
    /// than a filter that silently matches nothing.
    pub(crate) async fn actor_filter(&self, org: &str, actor: Option<String>) -> Result<Option<String>, EngineError> {
        let text = match actor {
            Some(text) if text.contains('@') => text,
            other => return Ok(other),
        };
        match self.account_with_email(org, &text).await? {
            Some((id, true)) => return Ok(Some(id)),
            Some((id, false)) => {
                let theirs = AuditFilter { actor: Some(id.clone()), ..AuditFilter::default() };
                if !self.ctx.store.list_audit(org, &theirs, &PageRequest::new(Some(1), None)).await?.items.is_empty() {
                    return Ok(Some(id));
                }
            }
            None => {}
        }
        Err(InvalidField::new(
            "actor",
            "No member or former member of this organization has this email; give one of theirs or an actor id (usr_…, tok_…).",
        )
        .into())
    }
}
