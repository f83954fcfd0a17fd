//! GCRA (the generic cell rate algorithm, a token bucket kept as one
//! timestamp) on exact integers.
//!
//! # Exactness
//!
//! For a limit of `L` units per period `P` the emission interval is
//! `T = P / L`, which is rarely a whole number of microseconds (7 per second
//! is 142 857.142… µs). Rounding `T` would drift: up, and a limit of a
//! billion per second would admit a million; down, and it admits more than
//! promised. So every instant is multiplied by `L` before any arithmetic:
//! in those "scaled" units `T` is exactly `P` µs, an instant `t` is `t·L`,
//! and everything is an `i128` (|t·L| < 2^63·2^30, far inside 2^127). The
//! state, the theoretical arrival time (TAT), is a [`Tat`]: whole
//! microseconds plus a remainder in `1/L` µs, both below 2^53 so that a
//! Redis Lua script (doubles) and a SQL `BIGINT` hold them exactly.
//!
//! # The rule
//!
//! With `now` and the stored TAT (a missing one is `now`), let
//! `base = max(TAT, now)`. A request of `cost` units is admitted iff
//! `base + cost·T ≤ now + P`, and then the new TAT is `base + cost·T`.
//! `cost` 0 always admits and changes nothing. Nothing else is stored.
//!
//! # The guarantee (proved by `tests::gcra_agrees_with_the_ideal_and_bounds_every_window`)
//!
//! 1. Decisions equal the ideal real-number GCRA's, to the microsecond of
//!    `now`: the TAT after admissions `(tᵢ, cᵢ)` is `max_j (t_j + Σ_{i≥j} cᵢ·T)`
//!    and no rounding enters.
//! 2. A burst: at most `L` units at one instant; `L` are admitted at once
//!    when nothing was admitted in the preceding period.
//! 3. Any window of `W` µs (`[a, a+W)`) admits at most
//!    `L + ⌊(W−1)·L / P⌋` units. Proof: the first admission in the window
//!    leaves TAT ≥ a + its cost·T and each further one adds its cost·T, so
//!    after the last, at `t ≤ a+W−1`, TAT ≥ a + Σcost·T; admitting it needed
//!    TAT ≤ t + P. Hence Σcost·P ≤ (W−1)·L + P·L.
//!    For one period (`W = P`) that is **up to `2L − 1`** (for `L ≤ P` µs):
//!    a full burst, then one unit every `T`. GCRA is a token bucket, not a
//!    sliding-window counter; the sustained rate is `L` per `P` and no window
//!    of length `k·P` sees more than `(k+1)·L − 1`.
//! 4. Time going backwards never admits more: a smaller `now` makes
//!    `base + cost·T ≤ now + P` harder, so no "last seen" clock is kept.
//!    Exactness across instances holds when they share the state atomically
//!    and one clock (the store's); an instance whose clock runs δ ahead can
//!    admit up to δ/T more.
//!
//! # For the stores
//!
//! Holding a [`Tat`] is easy anywhere; computing with it is not: `cost·P` and
//! `now·L` reach 10^24, beyond a double's exact integers, so a Redis Lua
//! script cannot redo this arithmetic faithfully. The intended shape is
//! that [`decide_all`] runs here and the store only compares and sets:
//! "if every key still holds the `Tat` read, write the new ones (with
//! [`Tat::ttl_micros`] as expiry), else report a conflict and decide again".
//! That keeps one definition of the arithmetic and makes multi-limit
//! admission atomic in the store as well.

use serde::{Deserialize, Serialize};

use super::spec::RateLimitSpec;

/// The stored state of one limit's bucket: the theoretical arrival time,
/// `micros + frac / limit` µs since the Unix epoch, `0 ≤ frac < limit`.
///
/// Once `now` reaches it, the bucket is full and the stored value means the
/// same as none, so a store may expire the key at [`Tat::expires_at_micros`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tat {
    /// Whole microseconds.
    pub micros: i64,
    /// Remainder, in `1/limit` µs of the limit it was written under.
    pub frac: u64,
}

impl Tat {
    /// The instant from which the bucket is full again, rounded up to a
    /// whole microsecond: the key's expiry.
    pub fn expires_at_micros(&self) -> i64 {
        if self.frac > 0 {
            self.micros.saturating_add(1)
        } else {
            self.micros
        }
    }

    /// How long, from `now_micros`, the key must live (0: it may go now).
    pub fn ttl_micros(&self, now_micros: i64) -> i64 {
        self.expires_at_micros().saturating_sub(now_micros).max(0)
    }

    /// Scaled by `limit`. A remainder that does not fit (the limit was
    /// changed since it was written) is rounded up to the next whole
    /// microsecond: never more permissive than what was stored.
    fn scaled(self, limit: i128) -> i128 {
        let micros = i128::from(self.micros);
        match i128::from(self.frac) {
            frac if frac < limit => micros * limit + frac,
            _ => (micros + 1) * limit,
        }
    }

    fn from_scaled(scaled: i128, limit: i128) -> Option<Self> {
        let micros = i64::try_from(scaled.div_euclid(limit)).ok()?;
        let frac = u64::try_from(scaled.rem_euclid(limit)).ok()?;
        Some(Self { micros, frac })
    }
}

/// A request could not be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The cost is above the limit: no wait would ever admit it.
    #[error("a cost of {cost} exceeds the limit of {limit}, so it can never be admitted")]
    CostExceedsLimit {
        /// Units asked for.
        cost: u64,
        /// The limit.
        limit: u64,
    },
    /// `now` is so close to the end of time that the new TAT would not fit.
    #[error("the clock is outside the range the limiter can represent")]
    ClockOutOfRange,
}

/// One limit's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed (as far as this limit is concerned).
    pub admitted: bool,
    /// The TAT to store: `Some` only when admitted with a positive cost.
    /// `None` means "write nothing", which keeps refusals and peeks free.
    pub new_tat: Option<Tat>,
    /// Units that could be admitted right now, after this request: the
    /// draft's available quota `r`.
    pub remaining: u64,
    /// Microseconds until one more unit is available: within that time the
    /// client can use no more than `remaining`, the draft's effective
    /// window `t` (see [`super::headers`]).
    pub reset_after_micros: i64,
    /// When refused: microseconds until this same request would be admitted
    /// (if nothing else is spent meanwhile). `None` when admitted.
    pub retry_after_micros: Option<i64>,
    /// Microseconds until the bucket is full again (the state's lifetime).
    pub full_after_micros: i64,
}

impl Decision {
    /// [`Decision::reset_after_micros`] in whole seconds, rounded up.
    pub fn reset_seconds(&self) -> u64 {
        seconds_up(self.reset_after_micros)
    }

    /// [`Decision::retry_after_micros`] in whole seconds, rounded up and at
    /// least 1: a refused client must be told to wait.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after_micros.map(|micros| seconds_up(micros).max(1))
    }
}

/// Whole seconds, rounded up; negative is 0.
pub fn seconds_up(micros: i64) -> u64 {
    u64::try_from(micros.max(0)).map_or(0, |micros| micros.div_ceil(1_000_000))
}

fn ceil_div(numerator: i128, denominator: i128) -> i128 {
    // Denominators here are limits, always ≥ 1.
    let quotient = numerator.div_euclid(denominator);
    if numerator.rem_euclid(denominator) == 0 {
        quotient
    } else {
        quotient + 1
    }
}

fn clamp_i64(value: i128) -> i64 {
    i64::try_from(value.max(0)).unwrap_or(i64::MAX)
}

/// Decides one request of `cost` units against `spec`, given the stored
/// state (`None`: never used or expired) and the current time.
pub fn decide(spec: &RateLimitSpec, stored: Option<Tat>, now_micros: i64, cost: u64) -> Result<Decision, LimitError> {
    if cost > spec.limit() {
        return Err(LimitError::CostExceedsLimit { cost, limit: spec.limit() });
    }
    let limit = i128::from(spec.limit());
    let period = i128::from(spec.period_micros());
    let now = i128::from(now_micros) * limit;
    let base = stored.map_or(now, |tat| tat.scaled(limit)).max(now);
    // Scaled microseconds of unspent capacity: P·L when full, one unit is P.
    let credit = now + period * limit - base;
    let need = i128::from(cost) * period;
    // A peek is always answered, even when a clock gone back leaves the
    // credit negative.
    let admitted = cost == 0 || need <= credit;
    let (credit_after, new_tat) = if admitted {
        let tat = match cost {
            0 => None,
            _ => Some(Tat::from_scaled(base + need, limit).ok_or(LimitError::ClockOutOfRange)?),
        };
        (credit - need, tat)
    } else {
        (credit, None)
    };
    let remaining = credit_after.max(0) / period;
    Ok(Decision {
        admitted,
        new_tat,
        remaining: u64::try_from(remaining).unwrap_or(0),
        reset_after_micros: clamp_i64(ceil_div((remaining + 1) * period - credit_after, limit)),
        retry_after_micros: (!admitted).then(|| clamp_i64(ceil_div(need - credit, limit))),
        full_after_micros: clamp_i64(ceil_div(period * limit - credit_after, limit)),
    })
}

/// One limit of a multi-limit check.
#[derive(Debug, Clone, Copy)]
pub struct LimitCheck<'a> {
    /// The limit.
    pub spec: &'a RateLimitSpec,
    /// Its stored state.
    pub stored: Option<Tat>,
    /// Units this request costs there.
    pub cost: u64,
}

/// The answer of every limit a request applies, taken together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether every limit admitted.
    pub admitted: bool,
    /// One per check, in order. When refused, none carries a `new_tat` and
    /// none is `admitted`; `remaining` and the times describe the unchanged
    /// state, and `retry_after_micros` is set on the limits that refused.
    pub decisions: Vec<Decision>,
    /// When refused: the index of the first limit that refused.
    pub refused_by: Option<usize>,
    /// When refused: how long until every limit would admit this request,
    /// the largest of the refusing limits' waits.
    pub retry_after_micros: Option<i64>,
}

/// Decides a request against several limits at once, atomically: it is
/// admitted only if every limit admits it, and when it is refused no limit's
/// state changes (no `new_tat` anywhere), so a refusal by `burst` spends
/// nothing from `requests`.
pub fn decide_all(checks: &[LimitCheck<'_>], now_micros: i64) -> Result<Outcome, LimitError> {
    let decisions = checks
        .iter()
        .map(|check| decide(check.spec, check.stored, now_micros, check.cost))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(refused_by) = decisions.iter().position(|decision| !decision.admitted) else {
        return Ok(Outcome { admitted: true, decisions, refused_by: None, retry_after_micros: None });
    };
    let mut unchanged = Vec::with_capacity(decisions.len());
    for (check, decision) in checks.iter().zip(&decisions) {
        if decision.admitted {
            let peek = decide(check.spec, check.stored, now_micros, 0)?;
            unchanged.push(Decision { admitted: false, ..peek });
        } else {
            unchanged.push(*decision);
        }
    }
    let retry_after_micros = unchanged.iter().filter_map(|decision| decision.retry_after_micros).max();
    Ok(Outcome { admitted: false, decisions: unchanged, refused_by: Some(refused_by), retry_after_micros })
}

#[cfg(test)]
#[path = "gcra_tests.rs"]
mod tests;
