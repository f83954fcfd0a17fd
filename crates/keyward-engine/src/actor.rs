//! Who is acting, and from where: every operation takes an [`Actor`] so that
//! permission checks and audit records come from one value.

use std::sync::Arc;

use keyward_core::clock::micros_to_datetime;
use keyward_core::model::{TokenRecord, SYSTEM_ACTOR};
use keyward_core::scope;
use keyward_core::Environment;

use crate::EngineError;

/// An authenticated management token. Shares the cached record rather than
/// copying its fields: every API request authenticates, so this is hot.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    token: Arc<TokenRecord>,
}

impl Principal {
    pub(crate) fn new(token: Arc<TokenRecord>) -> Self {
        Self { token }
    }

    /// The token's id (recorded as the audit actor).
    pub fn token_id(&self) -> &str {
        &self.token.id
    }

    /// The organization it acts in: every store query it causes is confined to it.
    pub fn org_id(&self) -> &str {
        &self.token.org_id
    }

    /// The token's owner (the default owner of tokens it creates).
    pub fn owner(&self) -> &str {
        &self.token.owner
    }

    /// The token's scopes.
    pub fn scopes(&self) -> &[String] {
        &self.token.scopes
    }
}

/// Facts about the request an action arrived in, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (`x-request-id`).
    pub request_id: Option<String>,
    /// The client address.
    pub source_ip: Option<std::net::IpAddr>,
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
        Self {
            principal: Principal::new(Arc::new(TokenRecord {
                id: SYSTEM_ACTOR.into(),
                org_id: String::new(),
                keyspace_id: String::new(),
                management: true,
                name: SYSTEM_ACTOR.into(),
                owner: SYSTEM_ACTOR.into(),
                scopes: scope::management::ALL.iter().map(|s| (*s).to_owned()).collect(),
                allowed_ips: Vec::new(),
                metadata: serde_json::Value::Object(serde_json::Map::new()),
                environment: Environment::Live,
                prefix: String::new(),
                last4: String::new(),
                created_at: micros_to_datetime(0),
                created_by: SYSTEM_ACTOR.into(),
                expires_at: None,
                revoked_at: None,
                last_used_at: None,
                use_count: 0,
            })),
            context: RequestContext::default(),
        }
    }

    /// Whether the actor holds `needed` (exactly or through an explicit wildcard).
    pub fn holds(&self, needed: &str) -> bool {
        self.principal.scopes().iter().any(|held| scope::grants(held, needed))
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
}
