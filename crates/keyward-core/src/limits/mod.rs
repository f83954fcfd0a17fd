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

pub mod credits;
pub mod effective;
pub mod gcra;
pub mod headers;
pub mod spec;

use serde::Serialize;

pub use credits::{spend, CreditState, Credits, Exhausted, Refill, RefillInterval, RefillPeriod};
pub use effective::{AppliedLimit, EffectiveLimit, EffectiveLimits, LimitScope, OWNER_PREFIX};
pub use gcra::{decide, decide_all, Decision, LimitCheck, LimitError, Outcome, Tat};
pub use spec::{
    LimitRequest, LimitSelector, RateLimitInput, RateLimitSpec, RateLimits, MAX_APPLIED, MAX_LIMIT, MAX_LIMITS,
    MAX_PERIOD_SECONDS,
};

/// One applied limit's state as a verification answer reports it:
/// `{"name","limit","remaining","reset_seconds"}`, the same numbers as the
/// `RateLimit` field's `r` and `t` (see [`headers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitState {
    /// The reported name (`owner.` prefixed for an owner limit).
    pub name: String,
    /// Units per period.
    pub limit: u64,
    /// Units available now, after this request.
    pub remaining: u64,
    /// Seconds (rounded up) until one more unit is available.
    pub reset_seconds: u64,
}

impl LimitState {
    /// The state of `limit` after `decision`.
    pub fn new(limit: &EffectiveLimit, decision: &Decision) -> Self {
        Self {
            name: limit.reported_name(),
            limit: limit.spec.limit(),
            remaining: decision.remaining,
            reset_seconds: decision.reset_seconds(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_verification_reports_each_applied_limits_state() {
        let defaults: RateLimits = serde_json::from_value(json!([
            {"name": "requests", "limit": 100, "period_seconds": 60},
            {"name": "burst", "limit": 10, "period_seconds": 1}
        ]))
        .unwrap();
        let effective = EffectiveLimits::inherit(None, &defaults, &RateLimits::none());
        let request: LimitRequest = serde_json::from_value(json!([{"name": "requests", "cost": 5}])).unwrap();
        let applied = effective.resolve(Some(&request)).unwrap();
        let checks: Vec<_> =
            applied.iter().map(|a| LimitCheck { spec: &a.limit.spec, stored: None, cost: a.cost }).collect();
        let outcome = decide_all(&checks, 1_700_000_000_000_000).unwrap();
        assert!(outcome.admitted);
        let states: Vec<_> = applied.iter().zip(&outcome.decisions).map(|(a, d)| LimitState::new(a.limit, d)).collect();
        assert_eq!(
            serde_json::to_value(states).unwrap(),
            json!([{"name": "requests", "limit": 100, "remaining": 95, "reset_seconds": 1}])
        );
    }
}
