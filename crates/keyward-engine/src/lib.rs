//! Keyward's token engine: issue, verify, update, revoke and audit tokens over
//! any [`keyward_store::Store`].
//!
//! The HTTP server is one user of this crate; a Rust service can embed it to
//! verify tokens in-process with no network hop:
//!
//! ```no_run
//! # async fn example(store: std::sync::Arc<dyn keyward_store::Store>) -> Result<(), keyward_engine::EngineError> {
//! use std::sync::Arc;
//! use keyward_engine::{Engine, EngineConfig};
//! let engine = Engine::new(store, Arc::new(keyward_core::SystemClock), Arc::new(keyward_core::OsRng), EngineConfig::default());
//! let verdict = engine.verify("kw_live_…", &["invoices:read".to_owned()]).await?;
//! if verdict.is_valid() { /* serve the request */ }
//!
//! // The fast form: the verdict is read in place, nothing is copied unless
//! // the callback copies it.
//! // Scopes a route requires are prepared once, so checking them reads only
//! // the token's cache entry.
//! let invoices_read = engine.require_scopes(vec!["invoices:read".to_owned()]);
//! let options = keyward_engine::VerifyOptions {
//!     required_scopes: &invoices_read,
//!     client_ip: Some([203, 0, 113, 9].into()),
//!     ..Default::default()
//! };
//! let owner = engine.verify_with("kw_live_…", &options, |verdict| verdict.token().map(|t| t.owner.clone())).await?;
//! # Ok(()) }
//! ```
//!
//! Verification is served from memory after the first lookup of a token;
//! every change made through the engine invalidates that memory before the
//! call returns, so a revocation is effective on the very next verify.

mod accounts;
mod activity;
mod actor;
mod auto_rotation;
mod bulk;
mod cache;
mod disabling;
mod engine;
mod error;
mod grace;
mod lineage;
mod periodic;
mod rotation;
mod schedule;
mod scope_index;
mod security;
mod setup;
mod usage;
mod webhooks;

pub use accounts::{
    csrf_matches, csrf_token, CreatedInvitation, NewSession, DEFAULT_INVITATION_SECONDS, MAX_INVITATION_SECONDS,
};
pub use activity::{TokenActivity, RECENT_VERIFICATIONS};
pub use actor::{Actor, Principal, RequestContext, RoleGrant, SignedIn};
pub use auto_rotation::MIN_AUTO_ROTATE_GRACE_SECONDS;
pub use bulk::{BulkOutcome, BulkRevoke, MAX_SELECTED};
pub use engine::{
    Engine, EngineConfig, Founded, Issued, NewKeyspace, NewToken, PolicyFinding, TokenChanges, Verdict, Verification,
    VerifyCode, VerifyOptions, MAX_EXPIRY_LEEWAY,
};
pub use error::{EngineError, PolicyProblem};
pub use lineage::{LineageRevoked, INHERITED_EXPIRY, INHERITED_NETWORKS, SUDO_WINDOW};
pub use rotation::{Rotated, RotationRequest};
pub use schedule::{LifecycleReport, RotationPeriods};
pub use scope_index::RequiredScopes;
pub use security::{Refusal, RefusedCall, ANONYMOUS_ACTOR, DEFAULT_TOKEN_SPRAYING_THRESHOLD, EVENTS_PER_MINUTE};
pub use setup::{SetupCode, SETUP_CODE_SECONDS};
pub use webhooks::{
    CreatedWebhook, NewWebhook, RotatedSecret, DEFAULT_SECRET_OVERLAP_SECONDS, MAX_SECRET_OVERLAP_SECONDS,
    MAX_WEBHOOKS_PER_ORGANIZATION,
};
