//! Roles a user holds in an organization, and what each may do.
//!
//! A role is a ceiling of management scopes: a session acts with exactly
//! its role's scopes, and a management token owned by a user acts with its
//! own scopes *and* the owner's current role, so demoting someone narrows
//! their tokens at once without touching them. One rule is not a scope:
//! a developer manages only tokens they own (see [`Role::manages_everyones_tokens`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::scope::management::{
    AUDIT_READ, KEYSPACES_READ, KEYSPACES_WRITE, MEMBERS_READ, MEMBERS_WRITE, ORGANIZATIONS_READ, ORGANIZATIONS_WRITE,
    POLICIES_WRITE, TOKENS_READ, TOKENS_WRITE, VERIFY, WEBHOOKS_READ, WEBHOOKS_WRITE,
};

/// A membership's role, from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees keyspaces, tokens, members and the audit log; changes nothing.
    Viewer,
    /// A viewer who also issues, changes and revokes their own tokens.
    Developer,
    /// Manages everyone's tokens, keyspaces, members and service accounts.
    Admin,
    /// An admin who also sets token policies and manages owners.
    Owner,
}

const VIEWER: &[&str] = &[KEYSPACES_READ, TOKENS_READ, AUDIT_READ, MEMBERS_READ, WEBHOOKS_READ];
const DEVELOPER: &[&str] =
    &[KEYSPACES_READ, TOKENS_READ, AUDIT_READ, MEMBERS_READ, WEBHOOKS_READ, TOKENS_WRITE, VERIFY];
const ADMIN: &[&str] = &[
    KEYSPACES_READ,
    TOKENS_READ,
    AUDIT_READ,
    MEMBERS_READ,
    WEBHOOKS_READ,
    TOKENS_WRITE,
    VERIFY,
    KEYSPACES_WRITE,
    MEMBERS_WRITE,
    WEBHOOKS_WRITE,
];
const OWNER: &[&str] = &[
    KEYSPACES_READ,
    TOKENS_READ,
    AUDIT_READ,
    MEMBERS_READ,
    TOKENS_WRITE,
    VERIFY,
    KEYSPACES_WRITE,
    MEMBERS_WRITE,
    POLICIES_WRITE,
    WEBHOOKS_READ,
    WEBHOOKS_WRITE,
];
const OPERATOR_OWNER: &[&str] = &[
    KEYSPACES_READ,
    TOKENS_READ,
    AUDIT_READ,
    MEMBERS_READ,
    TOKENS_WRITE,
    VERIFY,
    KEYSPACES_WRITE,
    MEMBERS_WRITE,
    POLICIES_WRITE,
    WEBHOOKS_READ,
    WEBHOOKS_WRITE,
    ORGANIZATIONS_READ,
    ORGANIZATIONS_WRITE,
];

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Developer, Role::Admin, Role::Owner];

    /// The lowercase name used in JSON, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// The management scopes the role allows. Owners of the operator
    /// organization also administer the deployment's organizations.
    pub fn scopes(self, operator_organization: bool) -> &'static [&'static str] {
        match self {
            Role::Viewer => VIEWER,
            Role::Developer => DEVELOPER,
            Role::Admin => ADMIN,
            Role::Owner if operator_organization => OPERATOR_OWNER,
            Role::Owner => OWNER,
        }
    }

    /// Whether the role allows `needed`, a management scope.
    pub fn permits(self, operator_organization: bool, needed: &str) -> bool {
        self.scopes(operator_organization).contains(&needed)
    }

    /// Whether it may change tokens other people own (developers manage
    /// only their own).
    pub fn manages_everyones_tokens(self) -> bool {
        self >= Role::Admin
    }

    /// Whether it may give `role` to someone, or change or remove a member
    /// who holds it: nobody hands out or touches more than they have, and
    /// only owners touch owners.
    pub fn may_assign(self, role: Role) -> bool {
        self >= Role::Admin && role <= self
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role; use one of owner, admin, developer, viewer")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, UnknownRole> {
        Role::ALL.into_iter().find(|role| role.as_str() == text).ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("Owner".parse::<Role>(), Err(UnknownRole));
        assert_eq!("superuser".parse::<Role>(), Err(UnknownRole));
    }

    #[test]
    fn each_role_holds_everything_the_one_below_holds() {
        for pair in Role::ALL.windows(2) {
            for operator in [false, true] {
                let (lower, higher) = (pair[0].scopes(operator), pair[1].scopes(operator));
                assert!(lower.iter().all(|scope| higher.contains(scope)), "{} ⊄ {}", pair[0], pair[1]);
                assert!(higher.len() > lower.len());
            }
        }
    }

    #[test]
    fn only_operator_owners_administer_organizations() {
        assert!(Role::Owner.permits(true, ORGANIZATIONS_WRITE));
        assert!(!Role::Owner.permits(false, ORGANIZATIONS_WRITE));
        assert!(!Role::Admin.permits(true, ORGANIZATIONS_READ));
        assert!(!Role::Admin.permits(false, POLICIES_WRITE));
        assert!(!Role::Viewer.permits(false, TOKENS_WRITE));
        assert!(Role::Developer.permits(false, TOKENS_WRITE));
    }

    #[test]
    fn nobody_assigns_above_themselves() {
        assert!(Role::Owner.may_assign(Role::Owner));
        assert!(Role::Admin.may_assign(Role::Admin));
        assert!(!Role::Admin.may_assign(Role::Owner));
        assert!(!Role::Developer.may_assign(Role::Viewer));
        assert!(!Role::Viewer.may_assign(Role::Viewer));
        assert!(!Role::Developer.manages_everyones_tokens() && Role::Admin.manages_everyones_tokens());
    }
}
