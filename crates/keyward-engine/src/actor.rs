//! Who is acting, and from where: every operation takes an [`Actor`] so that
//! permission checks and audit records come from one value.

use keyward_core::model::SYSTEM_ACTOR;
use keyward_core::scope;

use crate::EngineError;

/// An authenticated management token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id (recorded as the audit actor).
    pub token_id: String,
    /// The token's owner (the default owner of tokens it creates).
    pub owner: String,
    /// The token's scopes.
    pub scopes: Vec<String>,
}

/// Facts about the request an action arrived in, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (`x-request-id`).
    pub request_id: Option<String>,
    /// The client address.
    pub source_ip: Option<String>,
}

/// A principal acting within a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub principal: Principal,
    /// From where.
    pub context: RequestContext,
}

impl Actor {
    /// Keyward itself (bootstrap), holding every management scope.
    pub fn system() -> Self {
        Self {
            principal: Principal {
                token_id: SYSTEM_ACTOR.into(),
                owner: SYSTEM_ACTOR.into(),
                scopes: scope::management::ALL.iter().map(|s| (*s).to_owned()).collect(),
            },
            context: RequestContext::default(),
        }
    }

    /// Whether the actor holds `needed` (exactly or through an explicit wildcard).
    pub fn holds(&self, needed: &str) -> bool {
        self.principal.scopes.iter().any(|held| scope::grants(held, needed))
    }

    /// Fails with [`EngineError::Forbidden`] unless the actor holds `needed`.
    pub fn require(&self, needed: &'static str) -> Result<(), EngineError> {
        if self.holds(needed) {
            Ok(())
        } else {
            Err(EngineError::Forbidden { missing: vec![needed.to_owned()] })
        }
    }
}
