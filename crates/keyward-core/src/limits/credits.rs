//! Credits: a count of units a token may still spend, optionally refilled on
//! a UTC calendar schedule.
//!
//! # Refills
//!
//! A refill happens at 00:00 UTC: every day (`daily`), or on `day_of_month`
//! (`monthly`, default 1). In a month shorter than `day_of_month` (29–31)
//! the refill is on that month's last day, so `31` means "the last day of
//! every month" and February refills on the 28th, or the 29th in leap years.
//! UTC has no daylight saving, so every day is 86 400 s and nothing shifts.
//!
//! A refill **sets** `remaining` to `amount` rather than adding it, and never
//! lowers it (`max(remaining, amount)`): unused credits do not roll over, and
//! a balance topped up by hand above the plan survives. This is Unkey's
//! behaviour too (its refill writes `remaining_requests = refill_amount` and
//! skips keys already at or above it).
//!
//! Each scheduled instant starts a *refill period*, numbered
//! ([`RefillPeriod`]): days since 1970-01-01 for daily, months since 1970-01
//! for monthly. The state records the last period refilled, so a refill
//! applies when the current period is greater, exactly once however many
//! periods were missed (a token idle for three months gets one refill), and
//! applying it twice is a no-op. A clock going backwards sees an earlier
//! period and refills nothing.
//!
//! # The store's statement
//!
//! [`spend`] is pure so that a store can run it as one conditional update,
//! with `:period` = [`Refill::period_at`]`(now)`, `:amount` the refill amount
//! and `:cost` the cost (PostgreSQL; SQLite spells `GREATEST` as `MAX`):
//!
//! ```sql
//! UPDATE token_credits
//!    SET remaining = (CASE WHEN refilled_period IS NULL OR refilled_period < :period
//!                          THEN GREATEST(remaining, :amount) ELSE remaining END) - :cost,
//!        refilled_period = CASE WHEN refilled_period IS NULL OR refilled_period < :period
//!                               THEN :period ELSE refilled_period END
//!  WHERE token_id = :token
//!    AND (CASE WHEN refilled_period IS NULL OR refilled_period < :period
//!              THEN GREATEST(remaining, :amount) ELSE remaining END) >= :cost
//! RETURNING remaining, refilled_period;
//! ```
//!
//! Without a refill it is `SET remaining = remaining - :cost WHERE token_id
//! = :token AND remaining >= :cost`. No row means [`Exhausted`]. Because the
//! refill is computed inside the statement from the period, no scheduler is
//! needed and two instances cannot both apply one refill.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::InvalidField;

/// Largest credit balance or refill amount: 10^15, which a double (a Redis
/// Lua number, a JSON reader in JavaScript) still holds exactly.
pub const MAX_CREDITS: i64 = 1_000_000_000_000_000;

const DAY_SECONDS: i64 = 86_400;

/// How often a refill comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefillInterval {
    /// Every day at 00:00 UTC.
    Daily,
    /// Every month on `day_of_month` at 00:00 UTC.
    Monthly,
}

/// A refill schedule, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RefillInput")]
pub struct Refill {
    amount: i64,
    interval: RefillInterval,
    #[serde(skip_serializing_if = "Option::is_none")]
    day_of_month: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefillInput {
    amount: i64,
    interval: RefillInterval,
    #[serde(default)]
    day_of_month: Option<u32>,
}

impl TryFrom<RefillInput> for Refill {
    type Error = InvalidField;

    fn try_from(input: RefillInput) -> Result<Self, Self::Error> {
        Refill::new(input.amount, input.interval, input.day_of_month)
    }
}

/// A numbered refill period (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefillPeriod(pub i64);

impl Refill {
    /// A refill of `amount` (1..=[`MAX_CREDITS`]); `day_of_month` (1..=31,
    /// default 1) only for a monthly one.
    pub fn new(amount: i64, interval: RefillInterval, day_of_month: Option<u32>) -> Result<Self, InvalidField> {
        if !(1..=MAX_CREDITS).contains(&amount) {
            return Err(InvalidField::new("credits.refill.amount", format!("must be between 1 and {MAX_CREDITS}")));
        }
        let day_of_month = match (interval, day_of_month) {
            (RefillInterval::Daily, Some(_)) => {
                return Err(InvalidField::new("credits.refill.day_of_month", "applies only to a monthly refill"));
            }
            (RefillInterval::Daily, None) => None,
            (RefillInterval::Monthly, day) => {
                let day = day.unwrap_or(1);
                if !(1..=31).contains(&day) {
                    return Err(InvalidField::new("credits.refill.day_of_month", "must be between 1 and 31"));
                }
                Some(day)
            }
        };
        Ok(Self { amount, interval, day_of_month })
    }

    /// What a refill sets `remaining` to (at least).
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// Daily or monthly.
    pub fn interval(&self) -> RefillInterval {
        self.interval
    }

    /// The day of a monthly refill, 1..=31.
    pub fn day_of_month(&self) -> Option<u32> {
        self.day_of_month
    }

    /// The period `at` falls in: the one begun by the latest refill instant
    /// at or before `at`.
    pub fn period_at(&self, at: DateTime<Utc>) -> RefillPeriod {
        match self.interval {
            RefillInterval::Daily => RefillPeriod(at.timestamp().div_euclid(DAY_SECONDS)),
            RefillInterval::Monthly => {
                let month = (i64::from(at.year()) - 1970) * 12 + i64::from(at.month0());
                let begun = self.start(RefillPeriod(month)).is_none_or(|start| start <= at);
                RefillPeriod(if begun { month } else { month - 1 })
            }
        }
    }

    /// The refill instant that begins `period`; `None` outside chrono's
    /// calendar (hundreds of thousands of years away).
    pub fn start(&self, period: RefillPeriod) -> Option<DateTime<Utc>> {
        match self.interval {
            RefillInterval::Daily => Utc.timestamp_opt(period.0.checked_mul(DAY_SECONDS)?, 0).single(),
            RefillInterval::Monthly => {
                let year = i32::try_from(1970 + period.0.div_euclid(12)).ok()?;
                let month = u32::try_from(period.0.rem_euclid(12)).ok()? + 1;
                let first = NaiveDate::from_ymd_opt(year, month, 1)?;
                let last_day = first.checked_add_months(Months::new(1))?.pred_opt()?.day();
                let day = self.day_of_month.unwrap_or(1).min(last_day);
                Some(first.with_day(day)?.and_hms_opt(0, 0, 0)?.and_utc())
            }
        }
    }

    /// The latest refill instant after `last_refilled_at` and at or before
    /// `now`, if one is due. Several missed instants still make one refill.
    pub fn refill_due(&self, last_refilled_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.start(self.period_at(now)).filter(|start| *start > last_refilled_at && *start <= now)
    }

    /// The first refill instant strictly after `at`.
    pub fn next_refill_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.start(RefillPeriod(self.period_at(at).0.checked_add(1)?))
    }
}

/// A token's credits as configured: the starting balance and the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "CreditsInput")]
pub struct Credits {
    remaining: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refill: Option<Refill>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditsInput {
    remaining: i64,
    #[serde(default)]
    refill: Option<Refill>,
}

impl TryFrom<CreditsInput> for Credits {
    type Error = InvalidField;

    fn try_from(input: CreditsInput) -> Result<Self, Self::Error> {
        Credits::new(input.remaining, input.refill)
    }
}

impl Credits {
    /// Credits starting at `remaining` (0..=[`MAX_CREDITS`]).
    pub fn new(remaining: i64, refill: Option<Refill>) -> Result<Self, InvalidField> {
        if !(0..=MAX_CREDITS).contains(&remaining) {
            return Err(InvalidField::new("credits.remaining", format!("must be between 0 and {MAX_CREDITS}")));
        }
        Ok(Self { remaining, refill })
    }

    /// The starting balance.
    pub fn remaining(&self) -> i64 {
        self.remaining
    }

    /// The schedule, if any.
    pub fn refill(&self) -> Option<&Refill> {
        self.refill.as_ref()
    }

    /// The state to store when the credits are set at `now`: the current
    /// period counts as refilled, so the first refill is the next scheduled
    /// one, not an immediate one.
    pub fn initial_state(&self, now: DateTime<Utc>) -> CreditState {
        CreditState { remaining: self.remaining, refilled_period: self.refill.map(|refill| refill.period_at(now).0) }
    }
}

/// What the store keeps: the balance and the last period refilled (`None`:
/// never, so a configured refill is due at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreditState {
    /// Units left, never negative.
    pub remaining: i64,
    /// The last [`RefillPeriod`] applied.
    pub refilled_period: Option<i64>,
}

/// A spend refused: the balance (after any refill due) is below the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("credits exhausted: {remaining} left")]
pub struct Exhausted {
    /// The balance that was too low, after any refill due.
    pub remaining: i64,
    /// When the next refill comes, if there is a schedule.
    pub next_refill_at: Option<DateTime<Utc>>,
}

/// The state with any due refill applied (see the module documentation).
pub fn refilled(refill: Option<&Refill>, state: CreditState, now: DateTime<Utc>) -> CreditState {
    let Some(refill) = refill else { return state };
    let current = refill.period_at(now).0;
    if state.refilled_period.is_some_and(|period| period >= current) {
        return state;
    }
    CreditState { remaining: state.remaining.max(refill.amount), refilled_period: Some(current) }
}

/// Spends `cost` credits at `now`, applying a due refill first. Cost 0
/// reads the balance (and applies the refill) without spending. Refused
/// when the balance would go below zero: credits never go negative.
pub fn spend(
    refill: Option<&Refill>,
    state: CreditState,
    cost: u64,
    now: DateTime<Utc>,
) -> Result<CreditState, Exhausted> {
    let state = refilled(refill, state, now);
    let exhausted = || Exhausted {
        remaining: state.remaining,
        next_refill_at: refill.and_then(|refill| refill.next_refill_after(now)),
    };
    let cost = i64::try_from(cost).map_err(|_| exhausted())?;
    if cost > state.remaining {
        return Err(exhausted());
    }
    Ok(CreditState { remaining: state.remaining - cost, ..state })
}

#[cfg(test)]
#[path = "credits_tests.rs"]
mod tests;
