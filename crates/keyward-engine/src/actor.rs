//! Who is acting, and from where: every operation takes an [`Actor`] so that
//! permission checks and audit records come from one value.
//!
//! A principal is a management token or a signed-in user. What it may do is
//! the intersection of what it holds and, when a person stands behind it,
//! that person's *current* role: a session holds exactly its role's scopes,
//! and a management token owned by a user holds its own scopes only as far
//! as its owner's role allows, so demoting someone narrows their tokens at
//! once. Tokens of service accounts (and the bootstrap admin's) have no
//! person behind them and act with their scopes alone.

use std::sync::Arc;

use keyward_core::clock::micros_to_datetime;
use keyward_core::model::{TokenRecord, TokenUsage, SYSTEM_ACTOR};
use keyward_core::role::Role;
use keyward_core::scope::{self, management};
use keyward_core::Environment;

use crate::cache::CachedRecord;
use crate::EngineError;

/// A person's role where they act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleGrant {
    /// The membership's role.
    pub role: Role,
    /// Whether the organization is the operator's (owners there also
    /// administer the deployment).
    pub operator: bool,
}

impl RoleGrant {
    /// Whether the role allows `needed`, which may be an explicit wildcard:
    /// then every management scope it covers must be allowed.
    fn allows(self, needed: &str) -> bool {
        let mut covered = management::ALL.iter().filter(|known| scope::grants(needed, known)).peekable();
        covered.peek().is_some() && covered.all(|known| self.role.permits(self.operator, known))
    }
}

/// A signed-in user, as a session authenticates them.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    /// `ses_…`
    pub session_id: String,
    /// `usr_…`
    pub user_id: String,
    /// Their email.
    pub email: String,
    /// The organization the session acts in.
    pub org_id: String,
    /// Their role there, read when the request arrived.
    pub grant: RoleGrant,
    /// When the session ends.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// When they last typed their password (sign-in, or a confirmation).
    pub password_confirmed_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Shares the cached record rather than copying its fields: every API
    /// request authenticates, so this is hot.
    Token {
        token: Arc<CachedRecord>,
        owner_grant: Option<RoleGrant>,
    },
    User(Arc<SignedIn>),
}

/// An authenticated caller of the management API.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    kind: Kind,
}

impl Principal {
    /// A management token; `owner_grant` is its owning user's current role,
    /// `None` when no person owns it.
    pub(crate) fn token(token: Arc<CachedRecord>, owner_grant: Option<RoleGrant>) -> Self {
        Self { kind: Kind::Token { token, owner_grant } }
    }

    /// A signed-in user.
    pub(crate) fn user(signed_in: SignedIn) -> Self {
        Self { kind: Kind::User(Arc::new(signed_in)) }
    }

    /// The id recorded as the audit actor: the token's, or the user's.
    pub fn id(&self) -> &str {
        match &self.kind {
            Kind::Token { token, .. } => &token.id,
            Kind::User(user) => &user.user_id,
        }
    }

    /// The organization it acts in: every store query it causes is confined to it.
    pub fn org_id(&self) -> &str {
        match &self.kind {
            Kind::Token { token, .. } => &token.org_id,
            Kind::User(user) => &user.org_id,
        }
    }

    /// The default owner of tokens it creates: the token's owner, or the user.
    pub fn owner(&self) -> &str {
        match &self.kind {
            Kind::Token { token, .. } => &token.owner,
            Kind::User(user) => &user.user_id,
        }
    }

    /// The person behind it, if any, with their role.
    pub fn person(&self) -> Option<(&str, RoleGrant)> {
        match &self.kind {
            Kind::Token { token, owner_grant } => owner_grant.map(|grant| (token.owner.as_str(), grant)),
            Kind::User(user) => Some((user.user_id.as_str(), user.grant)),
        }
    }

    /// The management token's id, when it is one (not a session).
    pub fn token_id(&self) -> Option<&str> {
        match &self.kind {
            Kind::Token { token, .. } => Some(&token.id),
            Kind::User(_) => None,
        }
    }

    /// The management token itself, when it is one (not a session, nor
    /// Keyward's own bootstrap actor).
    pub fn token_record(&self) -> Option<&TokenRecord> {
        match &self.kind {
            Kind::Token { token, .. } if keyward_core::id::looks_like(keyward_core::id::IdKind::Token, &token.id) => {
                Some(token)
            }
            _ => None,
        }
    }

    /// The signed-in user, for a session.
    pub fn signed_in(&self) -> Option<&SignedIn> {
        match &self.kind {
            Kind::User(user) => Some(user),
            Kind::Token { .. } => None,
        }
    }

    /// The scopes it holds, in full (a token's own, or its role's).
    pub fn scopes(&self) -> Vec<String> {
        let mut held: Vec<String> = match &self.kind {
            Kind::Token { token, owner_grant: None } => return token.scopes.clone(),
            Kind::Token { .. } | Kind::User(_) => {
                management::ALL.iter().filter(|s| self.holds(s)).map(|s| (*s).to_owned()).collect()
            }
        };
        held.sort();
        held
    }

    /// Whether it holds `needed` (exactly or through an explicit wildcard),
    /// within its person's role.
    pub fn holds(&self, needed: &str) -> bool {
        match &self.kind {
            Kind::Token { token, owner_grant } => {
                scope::any_grants(&token.scopes, needed) && owner_grant.is_none_or(|grant| grant.allows(needed))
            }
            Kind::User(user) => user.grant.allows(needed),
        }
    }

    /// Whether it may change tokens owned by `owner`: developers manage
    /// only their own; everyone else, everyone's.
    pub fn manages_tokens_of(&self, owner: &str) -> bool {
        match self.person() {
            Some((person, grant)) => grant.role.manages_everyones_tokens() || person == owner,
            None => true,
        }
    }
}

/// Facts about the request an action arrived in, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (`x-request-id`).
    pub request_id: Option<String>,
    /// The client address.
    pub source_ip: Option<std::net::IpAddr>,
    /// The client's user agent, where it is recorded (sessions starting and
    /// ending); left out elsewhere so authenticating a call copies nothing.
    pub user_agent: Option<String>,
}

/// A principal acting within a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    /// Who.
    pub principal: Principal,
    /// From where.
    pub context: RequestContext,
}

impl Actor {
    /// Keyward itself (bootstrap), holding every management scope and
    /// belonging to no organization.
    pub fn system() -> Self {
        let record = TokenRecord {
            id: SYSTEM_ACTOR.into(),
            org_id: String::new(),
            keyspace_id: String::new(),
            management: true,
            name: SYSTEM_ACTOR.into(),
            owner: SYSTEM_ACTOR.into(),
            scopes: management::ALL.iter().map(|s| (*s).to_owned()).collect(),
            allowed_ips: Vec::new(),
            metadata: serde_json::Value::Object(serde_json::Map::new()),
            environment: Environment::Live,
            prefix: String::new(),
            last4: String::new(),
            created_at: micros_to_datetime(0),
            created_by: SYSTEM_ACTOR.into(),
            parent_token_id: None,
            expiry_ceiling: None,
            idempotency_key: None,
            expires_at: None,
            revocation: None,
            rotated_from: None,
            replacement: None,
            disabling: None,
            enabled_at: None,
            rotation_period_days: None,
            auto_rotate: None,
            usage: TokenUsage::default(),
        };
        Self {
            principal: Principal::token(Arc::new(CachedRecord::new(record)), None),
            context: RequestContext::default(),
        }
    }

    /// The management token acting, whose authority whatever it mints
    /// derives from: the parent of those tokens, and their bound.
    pub fn minting_token(&self) -> Option<&TokenRecord> {
        self.principal.token_record()
    }

    /// Whether the actor holds `needed` (exactly or through an explicit wildcard).
    pub fn holds(&self, needed: &str) -> bool {
        self.principal.holds(needed)
    }

    /// The organization the actor acts in.
    pub fn org_id(&self) -> &str {
        self.principal.org_id()
    }

    /// Fails with [`EngineError::Forbidden`] unless the actor holds `needed`.
    pub fn require(&self, needed: &'static str) -> Result<(), EngineError> {
        if self.holds(needed) {
            Ok(())
        } else {
            Err(EngineError::Forbidden { missing: vec![needed.to_owned()] })
        }
    }

    /// Fails unless the actor may change tokens owned by `owner`.
    pub fn require_manages_tokens_of(&self, owner: &str) -> Result<(), EngineError> {
        if self.principal.manages_tokens_of(owner) {
            Ok(())
        } else {
            Err(EngineError::NotOwner)
        }
    }

    /// Whether the actor may hand out `role` (invite with it, assign it) or
    /// act on a member holding it: only with every scope the role carries,
    /// so nobody makes anyone more powerful than themselves.
    pub fn may_assign(&self, role: Role, operator: bool) -> bool {
        role.scopes(operator).iter().all(|scope| self.holds(scope))
    }
}

/// Keyward's own record, as a template for tests.
#[cfg(test)]
pub(crate) fn system_record() -> TokenRecord {
    match Actor::system().principal.kind {
        Kind::Token { token, .. } => (*token).clone(),
        Kind::User(_) => unreachable!("the system actor is a token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn person(role: Role, operator: bool) -> Principal {
        Principal::user(SignedIn {
            session_id: "ses_x".into(),
            user_id: "usr_x".into(),
            email: "x@example.com".into(),
            org_id: "org_x".into(),
            grant: RoleGrant { role, operator },
            expires_at: micros_to_datetime(0),
            password_confirmed_at: micros_to_datetime(0),
        })
    }

    fn token_of(scopes: &[&str], owner_grant: Option<RoleGrant>) -> Principal {
        let Actor { principal, .. } = Actor::system();
        let Kind::Token { token, .. } = principal.kind else { unreachable!() };
        let record = TokenRecord {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            owner: "usr_x".into(),
            ..(*token).clone()
        };
        Principal::token(Arc::new(CachedRecord::new(record)), owner_grant)
    }

    proptest! {
        /// A person holds a set of management scopes exactly when the set is
        /// within their role: granting them succeeds exactly when requested ⊆ held.
        #[test]
        fn people_hold_exactly_their_roles_scopes(
            role in prop::sample::select(Role::ALL.to_vec()),
            operator in any::<bool>(),
            requested in prop::sample::subsequence(management::ALL.to_vec(), 0..=management::ALL.len()),
        ) {
            let principal = person(role, operator);
            let within = requested.iter().all(|scope| role.scopes(operator).contains(scope));
            prop_assert_eq!(requested.iter().all(|scope| principal.holds(scope)), within);
        }

        /// A person's token holds the intersection of its scopes and the role.
        #[test]
        fn a_persons_token_holds_the_intersection(
            role in prop::sample::select(Role::ALL.to_vec()),
            own in prop::sample::subsequence(management::ALL.to_vec(), 0..=management::ALL.len()),
            needed in prop::sample::select(management::ALL.to_vec()),
        ) {
            let principal = token_of(&own, Some(RoleGrant { role, operator: false }));
            prop_assert_eq!(principal.holds(needed), own.contains(&needed) && role.permits(false, needed));
        }
    }

    #[test]
    fn wildcards_count_only_when_the_role_allows_all_they_cover() {
        let developer = token_of(&["keyward:*"], Some(RoleGrant { role: Role::Developer, operator: false }));
        assert!(developer.holds("keyward:tokens:write"));
        assert!(developer.holds("keyward:tokens:*"));
        assert!(!developer.holds("keyward:*"), "a developer cannot hand out everything");
        assert!(!developer.holds("keyward:keyspaces:write"));
        assert!(token_of(&["keyward:*"], None).holds("keyward:*"));
    }

    #[test]
    fn developers_manage_only_their_own_tokens() {
        let developer = person(Role::Developer, false);
        assert!(developer.manages_tokens_of("usr_x"));
        assert!(!developer.manages_tokens_of("usr_y"));
        assert!(person(Role::Admin, false).manages_tokens_of("usr_y"));
        assert!(token_of(&[], None).manages_tokens_of("anyone"), "service and bootstrap tokens have no person");
    }
}
