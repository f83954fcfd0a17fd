//! What an actor may do, asked once by the screens so they show the
//! controls the services would accept and refuse the pages the services
//! would refuse, without knowing a single scope or role rule themselves.
//!
//! Every capability is answered by the very check the matching service
//! runs ([`Actor::require`] with the same scope, or
//! [`Principal::manages_tokens_of`]'s role rule), so a screen and the
//! engine can never disagree about a caller; the engine's tests tie each
//! one to the service call it mirrors.

use keyward_core::scope::management;

use crate::actor::Principal;
use crate::{Actor, EngineError};

/// Something a screen offers, named for what it lets a person do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// List and look at tokens (`Engine::list_tokens`, `get_token`).
    ReadTokens,
    /// Create, change, rotate and revoke tokens (`Engine::issue_token`, …).
    WriteTokens,
    /// Create and change tokens that other people or service accounts own:
    /// writing tokens, and a role that manages everyone's.
    IssueForOthers,
    /// Read the audit log (`Engine::list_audit`).
    ReadAudit,
    /// See members, invitations and service accounts (`Engine::list_members`).
    ReadMembers,
    /// Invite, change and remove members and service accounts
    /// (`Engine::remove_member`, `remove_service_account`, …).
    ManageMembers,
    /// See keyspaces and their catalogs (`Engine::list_keyspaces`).
    ReadKeyspaces,
    /// Create and change keyspaces (`Engine::create_keyspace`, …).
    WriteKeyspaces,
    /// Set the token policy and rename the organization
    /// (`Engine::set_token_policy`, `rename_organization`).
    SetPolicy,
}

impl Capability {
    /// The management scope the services require for it.
    fn scope(self) -> &'static str {
        match self {
            Capability::ReadTokens => management::TOKENS_READ,
            Capability::WriteTokens | Capability::IssueForOthers => management::TOKENS_WRITE,
            Capability::ReadAudit => management::AUDIT_READ,
            Capability::ReadMembers => management::MEMBERS_READ,
            Capability::ManageMembers => management::MEMBERS_WRITE,
            Capability::ReadKeyspaces => management::KEYSPACES_READ,
            Capability::WriteKeyspaces => management::KEYSPACES_WRITE,
            Capability::SetPolicy => management::POLICIES_WRITE,
        }
    }
}

/// Everything a screen may want to know about one actor, computed once per
/// page from [`Actor::capabilities`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub may_read_tokens: bool,
    pub may_write_tokens: bool,
    /// Whether the role lets it change tokens other people own
    /// (developers manage only their own), whatever its scopes.
    pub may_manage_everyones_tokens: bool,
    pub may_issue_for_others: bool,
    pub may_read_audit: bool,
    pub may_read_members: bool,
    pub may_manage_members: bool,
    pub may_read_keyspaces: bool,
    pub may_write_keyspaces: bool,
    pub may_set_policy: bool,
}

/// The role rule of [`Principal::manages_tokens_of`] asked for someone
/// else: service and bootstrap tokens have no person and manage everyone's.
fn manages_everyones_tokens(principal: &Principal) -> bool {
    principal.person().is_none_or(|(_, grant)| grant.role.manages_everyones_tokens())
}

impl Actor {
    /// Whether the services would let the actor do `capability`.
    pub fn may(&self, capability: Capability) -> bool {
        self.require_capability(capability).is_ok()
    }

    /// Fails exactly as the service behind `capability` would refuse the
    /// actor: [`EngineError::Forbidden`] naming the missing scope, or
    /// [`EngineError::NotOwner`] when only the role's token rule is lacking.
    /// For a screen that must refuse before it reads or validates anything.
    pub fn require_capability(&self, capability: Capability) -> Result<(), EngineError> {
        self.require(capability.scope())?;
        if capability == Capability::IssueForOthers && !manages_everyones_tokens(&self.principal) {
            return Err(EngineError::NotOwner);
        }
        Ok(())
    }

    /// What the actor may do, for a screen showing or hiding its controls.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            may_read_tokens: self.may(Capability::ReadTokens),
            may_write_tokens: self.may(Capability::WriteTokens),
            may_manage_everyones_tokens: manages_everyones_tokens(&self.principal),
            may_issue_for_others: self.may(Capability::IssueForOthers),
            may_read_audit: self.may(Capability::ReadAudit),
            may_read_members: self.may(Capability::ReadMembers),
            may_manage_members: self.may(Capability::ManageMembers),
            may_read_keyspaces: self.may(Capability::ReadKeyspaces),
            may_write_keyspaces: self.may(Capability::WriteKeyspaces),
            may_set_policy: self.may(Capability::SetPolicy),
        }
    }
}
