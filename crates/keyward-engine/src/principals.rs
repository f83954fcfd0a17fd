//! People named by email where an id is expected: `owner` and `actor`
//! filters take a member's email as well as their `usr_…` id, because the
//! email is what a person knows about a colleague.

use keyward_core::validate::InvalidField;

use crate::engine::Engine;
use crate::EngineError;

impl Engine {
    /// The user id of the member of `org` whose email is `email` (compared
    /// as stored: trimmed, lower case), if there is one. Members of other
    /// organizations are not found: an email says nothing across tenants.
    pub(crate) async fn member_with_email(&self, org: &str, email: &str) -> Result<Option<String>, EngineError> {
        let Some(user) = self.ctx.store.find_user_by_email(&email.trim().to_lowercase()).await? else {
            return Ok(None);
        };
        Ok(self.ctx.store.get_member(org, &user.id).await?.map(|member| member.user_id))
    }

    /// An owner filter as the store compares it: an email of a member
    /// becomes their id. Any other text stays as given, since an owner may be
    /// free text (`team-billing`, or an address that is nobody's account).
    pub(crate) async fn owner_filter(&self, org: &str, owner: Option<String>) -> Result<Option<String>, EngineError> {
        match owner {
            Some(text) if text.contains('@') => Ok(Some(self.member_with_email(org, &text).await?.unwrap_or(text))),
            other => Ok(other),
        }
    }

    /// An actor filter as the store compares it. Actors are ids (tokens,
    /// users, `system`), never free text, so an email that names no member
    /// is an error rather than a filter that silently matches nothing.
    pub(crate) async fn actor_filter(&self, org: &str, actor: Option<String>) -> Result<Option<String>, EngineError> {
        match actor {
            Some(text) if text.contains('@') => match self.member_with_email(org, &text).await? {
                Some(id) => Ok(Some(id)),
                None => Err(InvalidField::new(
                    "actor",
                    "No member of this organization has this email; give a member's email or an actor id (usr_…, tok_…).",
                )
                .into()),
            },
            other => Ok(other),
        }
    }
}
