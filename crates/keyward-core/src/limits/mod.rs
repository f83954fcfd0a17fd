//! Rate limits and credits (issue 23), as pure functions of their inputs.
//!
//! Everything that must agree across an in-memory limiter, a Redis script
//! and a SQL statement is decided here, on integers, with time passed in, so
//! the three can be checked against one definition:
//!
//! - [`spec`]: what a limit is (`{"name","limit","period_seconds"}`), the
//!   checked list of up to [`MAX_LIMITS`], and a verification's request
//!   (`[{"name","cost"}]`).
//! - [`effective`]: which limits apply to a token (own list, else the
//!   keyspace's defaults, plus the owner's shared ones) and which a request
//!   selects.
//! - [`gcra`]: the decision for one limit and, atomically, for several; the
//!   exact guarantee is stated and proved there.
//! - [`headers`]: `RateLimit-Policy`, `RateLimit` (draft-ietf-httpapi-
//!   ratelimit-headers-11) and `Retry-After`.
//! - [`credits`]: balances with calendar refills, and the conditional update
//!   a store runs to spend them.
//!
//! Order of a verification (for the engine): the token is judged valid,
//! then its limits are decided together ([`decide_all`]), and only if
//! admitted are credits spent, so a rate-limited request costs no credits.

pub mod effective;
pub mod spec;

pub use effective::{AppliedLimit, EffectiveLimit, EffectiveLimits, LimitScope, OWNER_PREFIX};
pub use spec::{
    LimitRequest, LimitSelector, RateLimitInput, RateLimitSpec, RateLimits, MAX_APPLIED, MAX_LIMIT, MAX_LIMITS,
    MAX_PERIOD_SECONDS,
};
