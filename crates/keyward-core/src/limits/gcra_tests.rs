use super::*;
use proptest::prelude::*;

const SECOND: i64 = 1_000_000;
/// 2023-11-14T22:13:20Z: a realistic clock, so products are realistic too.
const START: i64 = 1_700_000_000 * SECOND;

fn spec(limit: u64, period_seconds: u64) -> RateLimitSpec {
    RateLimitSpec::new("requests", limit, period_seconds).unwrap()
}

/// Runs admissions of `cost` at `now` until one is refused; returns how
/// many were admitted and the state.
fn drain(spec: &RateLimitSpec, mut tat: Option<Tat>, now: i64, cost: u64) -> (u64, Option<Tat>, Decision) {
    let mut admitted = 0;
    loop {
        let decision = decide(spec, tat, now, cost).unwrap();
        if !decision.admitted {
            return (admitted, tat, decision);
        }
        admitted += 1;
        tat = decision.new_tat.or(tat);
    }
}

#[test]
fn a_limit_of_one_admits_one_then_waits_a_period() {
    let one = spec(1, 1);
    let first = decide(&one, None, START, 1).unwrap();
    assert!(first.admitted);
    assert_eq!((first.remaining, first.reset_after_micros, first.full_after_micros), (0, SECOND, SECOND));
    let tat = first.new_tat;
    let second = decide(&one, tat, START, 1).unwrap();
    assert!(!second.admitted && second.new_tat.is_none());
    assert_eq!((second.remaining, second.retry_after_micros, second.retry_after_seconds()), (0, Some(SECOND), Some(1)));
    assert!(!decide(&one, tat, START + SECOND - 1, 1).unwrap().admitted);
    assert!(decide(&one, tat, START + SECOND, 1).unwrap().admitted);
}

#[test]
fn the_issue_example_bursts_a_hundred_then_one_every_600ms() {
    let requests = spec(100, 60);
    let (admitted, tat, refused) = drain(&requests, None, START, 1);
    assert_eq!(admitted, 100);
    assert_eq!(refused.retry_after_micros, Some(600_000));
    assert_eq!(refused.retry_after_seconds(), Some(1), "rounded up, never 0");
    assert_eq!(refused.reset_seconds(), 1);
    let later = decide(&requests, tat, START + 600_000, 1).unwrap();
    assert!(later.admitted);
    assert_eq!(later.remaining, 0);
    // Half a minute later half the bucket is back: 50 remain before this request.
    let half = decide(&requests, later.new_tat, START + 30 * SECOND + 600_000, 0).unwrap();
    assert_eq!(half.remaining, 50);
    assert_eq!(half.full_after_micros, 30 * SECOND);
}

#[test]
fn one_period_can_see_two_bursts_less_one_and_no_more() {
    let requests = spec(100, 60);
    let (mut total, mut tat, _) = drain(&requests, None, START, 1);
    let mut now = START;
    while now < START + 60 * SECOND - 1 {
        now = (now + 600_000).min(START + 60 * SECOND - 1);
        let (admitted, next, _) = drain(&requests, tat, now, 1);
        total += admitted;
        tat = next;
    }
    assert_eq!(total, 2 * 100 - 1);
}

#[test]
fn seven_per_second_never_drifts() {
    let seven = spec(7, 1);
    let (burst, mut tat, _) = drain(&seven, None, START, 1);
    assert_eq!(burst, 7);
    for second in 1..=20_000 {
        let (admitted, next, refused) = drain(&seven, tat, START + second * SECOND, 1);
        assert_eq!(admitted, 7, "second {second}");
        assert_eq!(refused.retry_after_micros, Some(142_858), "1/7 s, rounded up once, not accumulated");
        tat = next;
    }
}

#[test]
fn a_billion_per_second_is_a_thousand_per_microsecond() {
    let huge = spec(MAX, 1);
    let burst = decide(&huge, None, START, MAX).unwrap();
    assert!(burst.admitted);
    assert!(!decide(&huge, burst.new_tat, START, 1).unwrap().admitted);
    let one_micro = decide(&huge, burst.new_tat, START + 1, 0).unwrap();
    assert_eq!(one_micro.remaining, 1000);
    assert!(decide(&huge, burst.new_tat, START + 1, 1000).unwrap().admitted);
    assert!(!decide(&huge, burst.new_tat, START + 1, 1001).unwrap().admitted);
    let month = spec(MAX, MAX_PERIOD_SECONDS);
    let burst = decide(&month, None, START, MAX).unwrap();
    assert_eq!(burst.new_tat.unwrap().ttl_micros(START), 30 * 86_400 * SECOND);
}

const MAX: u64 = crate::limits::MAX_LIMIT;
const MAX_PERIOD_SECONDS: u64 = crate::limits::MAX_PERIOD_SECONDS;

#[test]
fn cost_equal_to_the_limit_fits_a_full_bucket_and_above_never() {
    let ten = spec(10, 1);
    assert!(decide(&ten, None, START, 10).unwrap().admitted);
    assert_eq!(decide(&ten, None, START, 11), Err(LimitError::CostExceedsLimit { cost: 11, limit: 10 }));
}

#[test]
fn cost_zero_peeks_without_writing() {
    let ten = spec(10, 1);
    let spent = decide(&ten, None, START, 4).unwrap();
    let peek = decide(&ten, spent.new_tat, START, 0).unwrap();
    assert!(peek.admitted && peek.new_tat.is_none());
    assert_eq!(peek.remaining, 6);
    let empty = decide(&ten, spent.new_tat, START, 6).unwrap();
    assert!(decide(&ten, empty.new_tat, START, 0).unwrap().admitted, "a peek is admitted even when empty");
}

#[test]
fn a_clock_going_back_is_never_more_permissive() {
    let ten = spec(10, 10);
    let (_, tat, at_now) = drain(&ten, None, START, 1);
    let earlier = decide(&ten, tat, START - 5 * SECOND, 1).unwrap();
    assert!(!earlier.admitted);
    assert!(earlier.retry_after_micros > at_now.retry_after_micros);
    assert_eq!(earlier.remaining, 0);
}

#[test]
fn the_ends_of_time_refuse_instead_of_overflowing() {
    let ten = spec(10, 1);
    assert_eq!(decide(&ten, None, i64::MAX, 1), Err(LimitError::ClockOutOfRange));
    assert!(decide(&ten, None, i64::MAX, 0).unwrap().admitted);
    assert!(decide(&ten, None, i64::MIN, 10).unwrap().admitted);
    let corrupt = Some(Tat { micros: i64::MAX, frac: u64::MAX });
    let refused = decide(&ten, corrupt, START, 1).unwrap();
    assert!(!refused.admitted);
    assert_eq!(refused.remaining, 0);
    assert!(refused.retry_after_micros > Some(i64::MAX / 2) && refused.full_after_micros > i64::MAX / 2);
}

#[test]
fn a_remainder_from_another_limit_rounds_up() {
    let ten = spec(10, 1);
    let written_under_more = Tat { micros: START, frac: 15 };
    let decision = decide(&ten, Some(written_under_more), START, 0).unwrap();
    // Read as START + 1 µs: the bucket is one µs (and a bit) short of full.
    assert_eq!(decision.remaining, 9);
    assert_eq!(decision.full_after_micros, 1);
}

#[test]
fn keys_expire_when_the_bucket_is_full() {
    assert_eq!(Tat { micros: 10, frac: 0 }.expires_at_micros(), 10);
    assert_eq!(Tat { micros: 10, frac: 3 }.expires_at_micros(), 11);
    assert_eq!(Tat { micros: 10, frac: 3 }.ttl_micros(20), 0);
    let seven = spec(7, 1);
    let decision = decide(&seven, None, START, 1).unwrap();
    let tat = decision.new_tat.unwrap();
    assert_eq!(tat, Tat { micros: START + 142_857, frac: 1 });
    assert_eq!(tat.ttl_micros(START), decision.full_after_micros);
    assert_eq!(
        decide(&seven, Some(tat), tat.expires_at_micros(), 0).unwrap(),
        decide(&seven, None, tat.expires_at_micros(), 0).unwrap()
    );
}

#[test]
fn decide_all_spends_nowhere_when_one_limit_refuses() {
    let requests = spec(100, 60);
    let burst = spec(2, 1);
    let (_, burst_tat, _) = drain(&burst, None, START, 1);
    let checks = [
        LimitCheck { spec: &requests, stored: None, cost: 1 },
        LimitCheck { spec: &burst, stored: burst_tat, cost: 1 },
    ];
    let outcome = decide_all(&checks, START).unwrap();
    assert!(!outcome.admitted);
    assert_eq!(outcome.refused_by, Some(1));
    assert!(outcome.decisions.iter().all(|d| d.new_tat.is_none() && !d.admitted));
    assert_eq!(outcome.decisions[0].remaining, 100, "requests reports its untouched bucket");
    assert_eq!(outcome.retry_after_micros, Some(500_000));
    let later = decide_all(&checks, START + 500_000).unwrap();
    assert!(later.admitted && later.decisions.iter().all(|d| d.new_tat.is_some()));
    assert!(decide_all(&checks[..0], START).unwrap().admitted, "no limits: admitted");
}

/// The ideal GCRA written independently: the TAT (scaled by `L`) after
/// admissions `(t, c)` is `max_j (t_j·L + Σ_{i≥j} c_i·P)`, brute force.
fn ideal_scaled_tat(admitted: &[(i64, u64)], limit: i128, period: i128) -> Option<i128> {
    (0..admitted.len())
        .map(|j| {
            let tail: i128 = admitted[j..].iter().map(|(_, c)| i128::from(*c)).sum();
            i128::from(admitted[j].0) * limit + tail * period
        })
        .max()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn gcra_agrees_with_the_ideal_and_bounds_every_window(
        limit in 1u64..=12,
        period_seconds in 1u64..=3,
        events in prop::collection::vec((-300_000i64..=1_500_000, 0u64..=12), 1..80),
        window in 1i64..=7_000_000,
    ) {
        let spec = spec(limit, period_seconds);
        let (l, p) = (i128::from(limit), i128::from(spec.period_micros()));
        let mut now = START;
        let mut tat = None;
        let mut admitted: Vec<(i64, u64)> = Vec::new();
        for (gap, cost) in events {
            now += gap;
            let cost = cost.min(limit);
            let decision = decide(&spec, tat, now, cost).unwrap();
            let base = ideal_scaled_tat(&admitted, l, p).unwrap_or(i128::MIN).max(i128::from(now) * l);
            let ideal = cost == 0 || base + i128::from(cost) * p <= i128::from(now) * l + p * l;
            prop_assert_eq!(decision.admitted, ideal, "cost {} at {}", cost, now - START);
            let free = admitted.iter().all(|(t, _)| *t <= now - spec.period_micros());
            prop_assert!(!free || decision.admitted, "a free bucket must admit up to the limit");
            if decision.admitted {
                if cost > 0 {
                    admitted.push((now, cost));
                    let stored = decision.new_tat.unwrap();
                    prop_assert_eq!(Some(i128::from(stored.micros) * l + i128::from(stored.frac)), ideal_scaled_tat(&admitted, l, p));
                    tat = Some(stored);
                }
            } else {
                prop_assert!(decision.new_tat.is_none());
                prop_assert!(decision.retry_after_micros.unwrap() >= decision.reset_after_micros, "draft-11 §6");
                prop_assert!(decide(&spec, tat, now + decision.retry_after_micros.unwrap(), cost).unwrap().admitted);
            }
        }
        for w in [spec.period_micros(), window] {
            let bound = limit + u64::try_from(i128::from(w - 1) * l / p).unwrap();
            for (start, _) in &admitted {
                let inside: u64 = admitted.iter().filter(|(t, _)| *t >= *start && *t < start + w).map(|(_, c)| c).sum();
                prop_assert!(inside <= bound, "{} units in a window of {} µs, bound {}", inside, w, bound);
            }
        }
    }

    #[test]
    fn decide_all_is_all_or_nothing(
        limits in prop::collection::vec((1u64..=6, 1u64..=3, -4_000_000i64..=4_000_000, 0u64..=6), 1..5),
    ) {
        let specs: Vec<_> = limits.iter().map(|(l, p, _, _)| spec(*l, *p)).collect();
        let checks: Vec<_> = specs
            .iter()
            .zip(&limits)
            .map(|(spec, (l, _, offset, cost))| {
                let stored = (*offset != 0).then(|| Tat { micros: START + offset, frac: 0 });
                LimitCheck { spec, stored, cost: (*cost).min(*l) }
            })
            .collect();
        let alone: Vec<_> = checks.iter().map(|c| decide(c.spec, c.stored, START, c.cost).unwrap()).collect();
        let outcome = decide_all(&checks, START).unwrap();
        prop_assert_eq!(outcome.admitted, alone.iter().all(|d| d.admitted));
        if outcome.admitted {
            prop_assert_eq!(&outcome.decisions, &alone);
        } else {
            prop_assert_eq!(outcome.refused_by, alone.iter().position(|d| !d.admitted));
            prop_assert_eq!(outcome.retry_after_micros, alone.iter().filter_map(|d| d.retry_after_micros).max());
            for (check, decision) in checks.iter().zip(&outcome.decisions) {
                prop_assert!(decision.new_tat.is_none() && !decision.admitted);
                let peek = decide(check.spec, check.stored, START, 0).unwrap();
                prop_assert_eq!(decision.remaining, peek.remaining);
            }
        }
    }
}
