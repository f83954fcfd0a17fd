//! The engine's errors. Each maps to one stable problem code at the HTTP edge;
//! none carries a secret.

use keyward_core::policy::{TokenPolicy, Violation};
use keyward_core::rng::RngError;
use keyward_core::validate::InvalidField;
use keyward_store::StoreError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Input out of bounds; names the field.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The actor lacks scopes the operation needs.
    #[error("missing scopes: {}", missing.join(", "))]
    Forbidden {
        /// Scopes the actor would need.
        missing: Vec<String>,
    },
    /// The actor asked to grant scopes it does not hold itself.
    #[error("cannot grant scopes the caller does not hold: {}", scopes.join(", "))]
    Escalation {
        /// The scopes it tried to grant.
        scopes: Vec<String>,
    },
    /// A management token asked to make a management token less bounded
    /// than itself (a later expiry, networks outside its own).
    #[error("{detail}")]
    ExceedsParentBounds {
        /// The request field beyond the bound: `expires_at` or `allowed_ips`.
        field: &'static str,
        /// The bound, named.
        detail: String,
    },
    /// A signed-in user must type their password again before minting a
    /// management credential.
    #[error("confirm your password to continue (it is asked again after {window_seconds} s)")]
    SudoRequired {
        /// How long a confirmation lasts.
        window_seconds: u64,
    },
    /// A change would widen a token's scopes and was not confirmed.
    #[error("widening scopes needs confirmation: {}", broader.join(", "))]
    ConfirmationRequired {
        /// The new scopes the old ones did not grant.
        broader: Vec<String>,
    },
    /// The token would break the organization's token policy.
    #[error("token policy violated: {}", violations.iter().map(|v| v.code).collect::<Vec<_>>().join(", "))]
    PolicyViolation {
        /// Every rule broken, explained.
        violations: Vec<PolicyProblem>,
    },
    /// A developer tried to change a token someone else owns.
    #[error("developers change only tokens they own")]
    NotOwner,
    /// Wrong email or password (never says which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failed sign-ins; try again later.
    #[error("too many failed sign-ins; retry in {retry_after_seconds} s")]
    Throttled {
        /// Seconds until the next attempt may succeed.
        retry_after_seconds: u64,
    },
    /// Open sign-up is disabled; join by invitation.
    #[error("sign-up is by invitation only")]
    SignUpClosed,
    /// The invitation is unknown, spent, withdrawn or expired.
    #[error("invitation invalid or expired")]
    InvitationInvalid,
    /// The user belongs to no (such) organization.
    #[error("not a member of that organization")]
    NoMembership,
    /// No such thing (or not visible to the actor).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A request that contradicts what exists, with a reason to show
    /// (e.g. removing the last owner).
    #[error("{detail}")]
    Rejected {
        /// Stable code, e.g. `last_owner`.
        code: &'static str,
        /// What is wrong, safe to show.
        detail: String,
    },
    /// A webhook URL names an address deliveries may not go to (loopback,
    /// private, link-local, …) and the operator has not opened it.
    #[error("{field}: {refusal}")]
    DestinationForbidden {
        /// The request field holding the URL.
        field: &'static str,
        /// The address, and the rule that refused it.
        refusal: keyward_core::egress::Refusal,
    },
    /// The store refused a duplicate.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The organization has a keyspace of that name already.
    #[error("a keyspace named {name:?} exists already: {id}")]
    KeyspaceExists {
        /// The existing keyspace's id.
        id: String,
        /// Its name.
        name: String,
    },
    /// A request with this idempotency key created a token already: this
    /// one made nothing (the secret went to that request only).
    #[error("token {token_id} was created already by a request with this idempotency key")]
    AlreadyCreated {
        /// The token the first request created.
        token_id: String,
        /// When.
        created_at: chrono::DateTime<chrono::Utc>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The OS random generator failed.
    #[error(transparent)]
    Rng(#[from] RngError),
}

/// One broken policy rule, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// Stable code, e.g. `expiry_required`.
    pub code: &'static str,
    /// The request field to change.
    pub field: &'static str,
    /// What to do, in words.
    pub detail: String,
}

impl PolicyProblem {
    /// `violation` of `policy`, explained.
    pub fn explain(violation: &Violation, policy: &TokenPolicy) -> Self {
        Self { code: violation.code(), field: violation.field(), detail: violation.explain(policy) }
    }
}

impl From<StoreError> for EngineError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => EngineError::Conflict(what),
            other => EngineError::Store(other),
        }
    }
}
