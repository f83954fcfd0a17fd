//! Keyward's token engine: issue, verify, update, revoke and audit tokens over
//! any [`keyward_store::Store`].
//!
//! Two entry points:
//!
//! - [`Verifier`]: verification alone (the token cache, lookup, verdict,
//!   scope and IP checks, usage counting). It needs a store and a clock,
//!   nothing else: a Rust service embeds it to verify tokens in-process
//!   with no network hop, without accounts, sessions or password hashing.
//! - [`Engine`]: everything the server does (organizations, keyspaces,
//!   tokens, accounts, webhooks, the lifecycle), with a [`Verifier`]
//!   inside that its changes keep current.
//!
//! ```no_run
//! # async fn example(store: std::sync::Arc<dyn keyward_store::Store>) -> Result<(), keyward_engine::EngineError> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use keyward_engine::{Verifier, VerifyOptions};
//! let verifier = Arc::new(Verifier::new(store, Arc::new(keyward_core::SystemClock)));
//! // Usage counts are kept in memory and written by a flusher.
//! let flusher = verifier.clone();
//! tokio::spawn(async move { flusher.run_flusher(Duration::from_secs(1), std::future::pending()).await });
//!
//! let verdict = verifier.verify("kw_live_…", &["invoices:read".to_owned()]).await?;
//! if verdict.is_valid() { /* serve the request */ }
//!
//! // The fast form: the verdict is read in place, nothing is copied unless
//! // the callback copies it.
//! // Scopes a route requires are prepared once, so checking them reads only
//! // the token's cache entry.
//! let invoices_read = verifier.require_scopes(vec!["invoices:read".to_owned()]);
//! let options = VerifyOptions {
//!     required_scopes: &invoices_read,
//!     client_ip: Some([203, 0, 113, 9].into()),
//!     ..Default::default()
//! };
//! let owner = verifier.verify_with("kw_live_…", &options, |verdict| verdict.token().map(|t| t.owner.clone())).await?;
//! # Ok(()) }
//! ```
//!
//! Verification is served from memory after the first lookup of a token;
//! every change made through the engine invalidates that memory before the
//! call returns, so a revocation is effective on the very next verify. A
//! verifier in another process than the engine that changes tokens sees
//! those changes through a shared store's change feed
//! ([`Verifier::watch_shared_changes`], PostgreSQL), and only then.

mod accounts;
mod activity;
mod actor;
mod authentication;
mod auto_rotation;
mod bulk;
mod cache;
mod capabilities;
mod config;
mod context;
mod disabling;
mod engine;
mod error;
mod event_budget;
mod grace;
mod keyspaces;
mod lineage;
mod organizations;
mod periodic;
mod policy;
pub mod prechecks;
mod principals;
mod rotation;
mod rules;
mod schedule;
mod scope_index;
mod security;
mod setup;
mod setup_code;
mod sign_in;
mod spraying;
mod tokens;
mod usage;
mod verdict;
mod verifier;
mod webhooks;

pub use accounts::{
    csrf_matches, csrf_token, CreatedInvitation, NewSession, DEFAULT_INVITATION_SECONDS, MAX_INVITATION_SECONDS,
};
pub use activity::{TokenActivity, RECENT_VERIFICATIONS};
pub use actor::{Actor, Principal, RequestContext, RoleGrant, SignedIn};
pub use auto_rotation::MIN_AUTO_ROTATE_GRACE_SECONDS;
pub use bulk::{BulkOutcome, BulkRevoke, MAX_SELECTED};
pub use capabilities::{Capabilities, Capability};
pub use config::EngineConfig;
pub use engine::Engine;
pub use error::{EngineError, PolicyProblem};
pub use event_budget::EVENTS_PER_MINUTE;
pub use keyspaces::NewKeyspace;
pub use lineage::{LineageRevoked, INHERITED_EXPIRY, INHERITED_NETWORKS, SUDO_WINDOW};
pub use organizations::Founded;
pub use policy::PolicyFinding;
pub use rotation::{Rotated, RotationRequest};
pub use schedule::{LifecycleReport, RotationPeriods};
pub use scope_index::RequiredScopes;
pub use security::{Refusal, RefusedCall};
pub use setup::{SetupCode, SETUP_CODE_SECONDS};
pub use spraying::{ANONYMOUS_ACTOR, DEFAULT_TOKEN_SPRAYING_THRESHOLD};
pub use tokens::{Issued, NewToken, TokenChanges, MAX_IDEMPOTENCY_KEY_LENGTH};
pub use verdict::{Verdict, Verification, VerifyCode, VerifyOptions};
pub use verifier::{Verifier, VerifierConfig, MAX_EXPIRY_LEEWAY};
pub use webhooks::{
    CreatedWebhook, NewWebhook, RotatedSecret, DEFAULT_SECRET_OVERLAP_SECONDS, MAX_SECRET_OVERLAP_SECONDS,
    MAX_WEBHOOKS_PER_ORGANIZATION,
};
