//! The verdict a verification reaches and what it is asked to check, apart
//! from the machinery that reaches it, so the activity log, the verifier and
//! the engine's management path can all speak of verdicts without depending
//! on one another.

use std::net::IpAddr;
use std::sync::Arc;

use keyward_core::model::TokenRecord;
use keyward_core::scope;

use crate::cache::CachedRecord;
use crate::scope_index::{RequiredScopes, NO_SCOPES};

/// What a verification checks besides the token itself.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// Scopes the token must all hold, prepared by [`crate::Verifier::require_scopes`].
    pub required_scopes: &'a RequiredScopes,
    /// The address the token was presented from; required by tokens with an
    /// IP allowlist (they answer `ForbiddenIp` without it).
    pub client_ip: Option<IpAddr>,
    /// The keyspace the token must belong to; any other answers `NotFound`,
    /// so a test token never passes for a live one.
    pub keyspace_id: Option<&'a str>,
    /// The organization the token must belong to; any other answers
    /// `NotFound`, so one tenant's verifier learns nothing of another's tokens.
    pub org_id: Option<&'a str>,
    /// The presenting client's user agent. Noted (with `client_ip`) only
    /// for rotated tokens, so their owner sees which clients still use them.
    pub user_agent: Option<&'a str>,
    /// Who asked (the verifying management token or user), with `org_id`:
    /// unknown tokens are counted per caller and `client_ip`, and a minute
    /// with too many is audited as token spraying. Nothing is counted
    /// without both.
    pub caller: Option<&'a str>,
}

impl Default for VerifyOptions<'_> {
    fn default() -> Self {
        Self {
            required_scopes: &NO_SCOPES,
            client_ip: None,
            keyspace_id: None,
            org_id: None,
            user_agent: None,
            caller: None,
        }
    }
}

/// The verdict on a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyCode {
    /// Known, active, and holds every required scope.
    Valid,
    /// Not a well-formed token (shape or checksum); no lookup was made.
    Malformed,
    /// Well-formed but unknown.
    NotFound,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Disabled (it may be enabled again).
    Disabled,
    /// Active but missing required scopes.
    InsufficientScope,
    /// Active but presented from outside its IP allowlist.
    ForbiddenIp,
}

impl VerifyCode {
    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyCode::Valid => "VALID",
            VerifyCode::Malformed => "MALFORMED",
            VerifyCode::NotFound => "NOT_FOUND",
            VerifyCode::Expired => "EXPIRED",
            VerifyCode::Revoked => "REVOKED",
            VerifyCode::Disabled => "DISABLED",
            VerifyCode::InsufficientScope => "INSUFFICIENT_SCOPE",
            VerifyCode::ForbiddenIp => "FORBIDDEN_IP",
        }
    }
}

/// What [`crate::Verifier::verify`] found: an owned verdict that outlives the call.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The verdict.
    pub code: VerifyCode,
    token: Option<Arc<CachedRecord>>,
    /// Required scopes the token lacks (for `InsufficientScope`).
    pub missing_scopes: Vec<String>,
}

impl Verification {
    /// The token's record, when the token is known.
    pub fn token(&self) -> Option<&TokenRecord> {
        self.token.as_deref().map(|cached| &**cached)
    }

    /// Whether the token may be used.
    pub fn is_valid(&self) -> bool {
        self.code == VerifyCode::Valid
    }
}

/// What [`crate::Verifier::verify_with`] found, borrowed from the cache for the
/// duration of the callback. Reading the record is what costs: a verdict
/// that only checks [`Verdict::is_valid`] stays on one cache line.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    /// The verdict.
    pub code: VerifyCode,
    pub(crate) record: Option<&'a Arc<CachedRecord>>,
    pub(crate) required_scopes: &'a [String],
}

impl<'a> Verdict<'a> {
    pub(crate) fn bare(code: VerifyCode) -> Self {
        Self { code, record: None, required_scopes: &[] }
    }

    /// Whether the token may be used.
    pub fn is_valid(&self) -> bool {
        self.code == VerifyCode::Valid
    }

    /// The token's record, when the token is known.
    pub fn token(&self) -> Option<&'a TokenRecord> {
        self.record.map(|record| &***record)
    }

    /// A place to keep a rendering of the token's record (its fields of an
    /// answer, serialized), made once per cached version of the record and
    /// reused by every later verdict on it; `None` when the token is unknown.
    /// Put nothing there that depends on more than the record.
    pub fn rendering(&self) -> Option<&'a std::sync::OnceLock<Box<[u8]>>> {
        self.record.map(|record| record.rendering())
    }

    /// Required scopes the token lacks (empty unless `InsufficientScope`).
    pub fn missing_scopes(&self) -> Vec<&'a str> {
        match (self.code, self.record) {
            (VerifyCode::InsufficientScope, Some(record)) => scope::missing(&record.scopes, self.required_scopes),
            _ => Vec::new(),
        }
    }

    /// An owned copy that outlives the callback.
    pub fn to_verification(&self) -> Verification {
        Verification {
            code: self.code,
            token: self.record.cloned(),
            missing_scopes: self.missing_scopes().into_iter().map(str::to_owned).collect(),
        }
    }
}
