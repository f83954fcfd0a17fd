use super::*;
use proptest::prelude::*;
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn monthly(day: u32) -> Refill {
    Refill::new(10_000, RefillInterval::Monthly, Some(day)).unwrap()
}

fn daily() -> Refill {
    Refill::new(100, RefillInterval::Daily, None).unwrap()
}

#[test]
fn the_issue_example_parses_and_bad_values_name_their_field() {
    let credits: Credits = serde_json::from_value(
        json!({"remaining": 10000, "refill": {"amount": 10000, "interval": "monthly", "day_of_month": 1}}),
    )
    .unwrap();
    assert_eq!(credits.refill().unwrap().day_of_month(), Some(1));
    let defaulted: Credits =
        serde_json::from_value(json!({"remaining": 5, "refill": {"amount": 10, "interval": "monthly"}})).unwrap();
    assert_eq!(defaulted.refill().unwrap().day_of_month(), Some(1));
    let error = |value| serde_json::from_value::<Credits>(value).unwrap_err().to_string();
    assert!(error(json!({"remaining": -1})).contains("credits.remaining"));
    assert!(error(json!({"remaining": MAX_CREDITS + 1})).contains("credits.remaining"));
    assert!(
        error(json!({"remaining": 1, "refill": {"amount": 0, "interval": "daily"}})).contains("credits.refill.amount")
    );
    let daily_day = json!({"remaining": 1, "refill": {"amount": 1, "interval": "daily", "day_of_month": 3}});
    assert!(error(daily_day).contains("credits.refill.day_of_month"));
    let day_32 = json!({"remaining": 1, "refill": {"amount": 1, "interval": "monthly", "day_of_month": 32}});
    assert!(error(day_32).contains("credits.refill.day_of_month"));
    assert!(error(json!({"remaining": 1, "refill": {"amount": 1, "interval": "weekly"}})).contains("weekly"));
    assert!(error(json!({"remaining": 1, "spent": 0})).contains("spent"));
    let round_trip = serde_json::to_value(credits).unwrap();
    assert_eq!(
        round_trip,
        json!({"remaining": 10000, "refill": {"amount": 10000, "interval": "monthly", "day_of_month": 1}})
    );
}

#[test]
fn late_days_fall_on_the_last_day_of_short_months() {
    let last = monthly(31);
    let start = |text: &str| last.start(last.period_at(at(text))).unwrap();
    assert_eq!(start("2023-02-28T12:00:00Z"), at("2023-02-28T00:00:00Z"));
    assert_eq!(start("2024-02-29T00:00:00Z"), at("2024-02-29T00:00:00Z"), "leap year");
    assert_eq!(start("2024-02-28T23:59:59Z"), at("2024-01-31T00:00:00Z"));
    assert_eq!(start("2024-04-30T00:00:00Z"), at("2024-04-30T00:00:00Z"));
    assert_eq!(start("2100-02-28T00:00:00Z"), at("2100-02-28T00:00:00Z"), "2100 is not a leap year");
    assert_eq!(start("2000-02-29T00:00:00Z"), at("2000-02-29T00:00:00Z"), "2000 is");
    let thirtieth = monthly(30);
    assert_eq!(thirtieth.next_refill_after(at("2023-01-30T00:00:00Z")), Some(at("2023-02-28T00:00:00Z")));
    assert_eq!(thirtieth.next_refill_after(at("2023-02-28T00:00:00Z")), Some(at("2023-03-30T00:00:00Z")));
    assert_eq!(monthly(1).next_refill_after(at("2023-12-31T23:59:59Z")), Some(at("2024-01-01T00:00:00Z")));
}

#[test]
fn refills_are_due_once_per_instant_at_midnight_utc() {
    let first = monthly(1);
    let last = at("2024-01-01T00:00:00Z");
    assert_eq!(first.refill_due(last, at("2024-01-31T23:59:59Z")), None);
    assert_eq!(first.refill_due(last, at("2024-02-01T00:00:00Z")), Some(at("2024-02-01T00:00:00Z")));
    assert_eq!(
        first.refill_due(last, at("2024-05-17T08:00:00Z")),
        Some(at("2024-05-01T00:00:00Z")),
        "missed months: one"
    );
    assert_eq!(first.refill_due(at("2024-05-01T00:00:00Z"), at("2024-05-17T08:00:00Z")), None, "already applied");
    let day = daily();
    assert_eq!(day.period_at(at("2024-03-10T23:59:59.999999Z")).0 + 1, day.period_at(at("2024-03-11T00:00:00Z")).0);
    assert_eq!(day.next_refill_after(at("2024-03-10T12:00:00Z")), Some(at("2024-03-11T00:00:00Z")));
    assert_eq!(day.period_at(at("1969-12-31T12:00:00Z")), RefillPeriod(-1), "before the epoch still counts down");
    assert_eq!(monthly(1).period_at(at("1969-12-15T00:00:00Z")), RefillPeriod(-1));
}

#[test]
fn spending_stops_at_zero() {
    let credits = Credits::new(3, None).unwrap();
    let now = at("2024-01-01T00:00:00Z");
    let state = credits.initial_state(now);
    let state = spend(None, state, 3, now).unwrap();
    assert_eq!(state.remaining, 0);
    assert_eq!(spend(None, state, 1, now), Err(Exhausted { remaining: 0, next_refill_at: None }));
    assert_eq!(spend(None, state, 0, now), Ok(state), "cost 0 reads");
    assert!(spend(None, state, u64::MAX, now).is_err());
}

#[test]
fn a_refill_sets_the_balance_once_per_period_and_never_lowers_it() {
    let refill = monthly(1);
    let credits = Credits::new(10_000, Some(refill)).unwrap();
    let state = credits.initial_state(at("2024-01-15T00:00:00Z"));
    let state = spend(Some(&refill), state, 9_990, at("2024-01-20T00:00:00Z")).unwrap();
    let refused = spend(Some(&refill), state, 11, at("2024-01-31T00:00:00Z")).unwrap_err();
    assert_eq!(refused, Exhausted { remaining: 10, next_refill_at: Some(at("2024-02-01T00:00:00Z")) });

    let april = spend(Some(&refill), state, 1, at("2024-04-02T00:00:00Z")).unwrap();
    assert_eq!(april.remaining, 9_999, "set to the amount once, not once per missed month");
    let again = spend(Some(&refill), april, 0, at("2024-04-30T00:00:00Z")).unwrap();
    assert_eq!(again, april, "the same period is not refilled twice");
    assert_eq!(refilled(Some(&refill), april, at("2024-03-01T00:00:00Z")), april, "a clock gone back refills nothing");

    let topped_up = CreditState { remaining: 50_000, refilled_period: Some(0) };
    assert_eq!(refilled(Some(&refill), topped_up, at("2024-04-02T00:00:00Z")).remaining, 50_000);
    let never = CreditState { remaining: 0, refilled_period: None };
    assert_eq!(refilled(Some(&refill), never, at("2024-04-02T00:00:00Z")).remaining, 10_000, "never refilled: due");
}

/// The documented SQL statement, evaluated by hand.
fn sql_mirror(refill: Option<&Refill>, row: CreditState, cost: i64, now: DateTime<Utc>) -> Option<CreditState> {
    let Some(refill) = refill else {
        return (row.remaining >= cost).then(|| CreditState { remaining: row.remaining - cost, ..row });
    };
    let period = refill.period_at(now).0;
    let due = row.refilled_period.is_none_or(|p| p < period);
    let balance = if due { row.remaining.max(refill.amount()) } else { row.remaining };
    (balance >= cost).then(|| CreditState {
        remaining: balance - cost,
        refilled_period: if due { Some(period) } else { row.refilled_period },
    })
}

proptest! {
    #[test]
    fn credits_never_go_negative_and_each_period_refills_at_most_once(
        start in 0i64..=4_000_000_000,
        initial in 0i64..=50,
        amount in 1i64..=40,
        daily_refill in any::<bool>(),
        day in 1u32..=31,
        steps in prop::collection::vec((-86_400i64..=40 * 86_400, 0u64..=30), 1..60),
    ) {
        let refill = if daily_refill {
            Refill::new(amount, RefillInterval::Daily, None).unwrap()
        } else {
            Refill::new(amount, RefillInterval::Monthly, Some(day)).unwrap()
        };
        let mut now = Utc.timestamp_opt(start, 0).unwrap();
        let mut state = Credits::new(initial, Some(refill)).unwrap().initial_state(now);
        let mut refilled_periods = std::collections::HashSet::new();
        for (advance, cost) in steps {
            now += chrono::Duration::seconds(advance);
            let before = state;
            let result = spend(Some(&refill), state, cost, now);
            let mirror = sql_mirror(Some(&refill), state, i64::try_from(cost).unwrap(), now);
            prop_assert_eq!(result.ok(), mirror, "the SQL statement and spend agree");
            let after = refilled(Some(&refill), before, now);
            prop_assert_eq!(refilled(Some(&refill), after, now), after, "a refill applied twice is a no-op");
            if after.refilled_period == before.refilled_period {
                prop_assert_eq!(after.remaining, before.remaining);
            } else {
                prop_assert!(after.refilled_period > before.refilled_period);
            }
            if let Ok(next) = result {
                // Only a stored state counts: a refused spend stores nothing
                // and the same refill is simply computed again next time.
                if next.refilled_period != before.refilled_period {
                    prop_assert!(refilled_periods.insert(next.refilled_period), "period refilled twice");
                }
                prop_assert!(next.remaining >= 0);
                prop_assert_eq!(next.remaining, after.remaining - i64::try_from(cost).unwrap());
                state = next;
            } else {
                prop_assert!(after.remaining < i64::try_from(cost).unwrap());
            }
            prop_assert!(state.remaining >= 0 && state.remaining <= initial.max(amount));
        }
    }

    #[test]
    fn every_instant_is_in_the_period_its_start_begins(
        seconds in -2_000_000_000i64..=8_000_000_000,
        day in 1u32..=31,
        daily_refill in any::<bool>(),
    ) {
        let refill = if daily_refill { daily() } else { monthly(day) };
        let now = Utc.timestamp_opt(seconds, 0).unwrap();
        let period = refill.period_at(now);
        let start = refill.start(period).unwrap();
        let next = refill.next_refill_after(now).unwrap();
        prop_assert!(start <= now && now < next);
        prop_assert_eq!(refill.period_at(start), period);
        prop_assert_eq!(refill.period_at(next).0, period.0 + 1);
        prop_assert_eq!((start.hour(), start.minute(), start.second()), (0, 0, 0));
        if !daily_refill {
            prop_assert!(start.day() == day || (start.day() < day && start.with_day(start.day() + 1).is_none()));
        }
    }
}

use chrono::Timelike;
