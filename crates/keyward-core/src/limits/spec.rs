//! Named rate limits as callers write them, checked once so that the
//! arithmetic in [`super::gcra`] can rely on every bound (no division by a
//! zero limit, no product that leaves `i128`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::validate::InvalidField;

/// Most limits one token, keyspace or owner may define.
pub const MAX_LIMITS: usize = 8;
/// Largest `limit`: a billion units per period.
pub const MAX_LIMIT: u64 = 1_000_000_000;
/// Longest `period_seconds`: 30 days. A rate limit's state must live in the
/// limiter (Redis, memory) for up to one period; quotas over longer spans are
/// what credits are for, and they are durable.
pub const MAX_PERIOD_SECONDS: u64 = 30 * 86_400;
/// Longest limit name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Most entries a request may name: every token limit and every owner limit.
pub const MAX_APPLIED: usize = 2 * MAX_LIMITS;

/// One named limit: at most `limit` units per `period_seconds`, with bursts
/// of up to `limit` (see [`super::gcra`] for what exactly is admitted).
///
/// Only built through [`RateLimitSpec::new`] or [`RateLimits`]'s
/// deserialization, so every value in the program is within bounds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RateLimitSpec {
    name: String,
    limit: u64,
    period_seconds: u64,
}

/// A limit as it arrives in JSON, before its bounds are checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitInput {
    /// See [`RateLimitSpec::name`].
    pub name: String,
    /// See [`RateLimitSpec::limit`].
    pub limit: u64,
    /// See [`RateLimitSpec::period_seconds`].
    pub period_seconds: u64,
}

impl RateLimitSpec {
    /// A checked limit; errors name `rate_limits[0].…`, the path of a single
    /// entry. Lists report their own index through [`RateLimits::new`].
    pub fn new(name: &str, limit: u64, period_seconds: u64) -> Result<Self, InvalidField> {
        Self::checked(0, RateLimitInput { name: name.to_owned(), limit, period_seconds })
    }

    fn checked(index: usize, input: RateLimitInput) -> Result<Self, InvalidField> {
        limit_name(path(index, Field::Name), &input.name)?;
        if !(1..=MAX_LIMIT).contains(&input.limit) {
            return Err(InvalidField::new(path(index, Field::Limit), format!("must be between 1 and {MAX_LIMIT}")));
        }
        if !(1..=MAX_PERIOD_SECONDS).contains(&input.period_seconds) {
            return Err(InvalidField::new(
                path(index, Field::PeriodSeconds),
                format!("must be between 1 and {MAX_PERIOD_SECONDS} seconds (30 days)"),
            ));
        }
        Ok(Self { name: input.name, limit: input.limit, period_seconds: input.period_seconds })
    }

    /// `[a-z0-9][a-z0-9_-]{0,31}`: unique within its list.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Units admitted per period, and the largest burst: 1..=[`MAX_LIMIT`].
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The period: 1..=[`MAX_PERIOD_SECONDS`].
    pub fn period_seconds(&self) -> u64 {
        self.period_seconds
    }

    /// The period in microseconds, the unit of all limiter arithmetic.
    pub fn period_micros(&self) -> i64 {
        // At most 2.6e12: far inside i64.
        i64::try_from(self.period_seconds).unwrap_or(i64::MAX / 1_000_000).saturating_mul(1_000_000)
    }
}

/// A limit name: `[a-z0-9][a-z0-9_-]{0,31}`. Lowercase ASCII only, so the
/// name is the same in JSON, in a Redis key, in a SQL column and inside a
/// structured-field string without escaping or case folding; no `.` or `:`,
/// which keeps `owner.` (see [`super::effective`]) and key separators free.
pub fn limit_name(field: &'static str, text: &str) -> Result<(), InvalidField> {
    let mut chars = text.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !first_ok || !rest_ok || text.len() > MAX_NAME_CHARS {
        return Err(InvalidField::new(
            field,
            format!("must be 1 to {MAX_NAME_CHARS} characters of a-z, 0-9, _ and -, starting with a letter or digit"),
        ));
    }
    Ok(())
}

/// A checked list of limits: at most [`MAX_LIMITS`], names unique. Used for a
/// token's own limits, a keyspace's defaults and an owner's shared limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<RateLimitInput>")]
pub struct RateLimits(Vec<RateLimitSpec>);

impl RateLimits {
    /// Checks every entry; an error names the entry's path, e.g.
    /// `rate_limits[1].period_seconds`.
    pub fn new(inputs: Vec<RateLimitInput>) -> Result<Self, InvalidField> {
        if inputs.len() > MAX_LIMITS {
            return Err(InvalidField::new("rate_limits", format!("must have at most {MAX_LIMITS} limits")));
        }
        let mut specs: Vec<RateLimitSpec> = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.into_iter().enumerate() {
            let spec = RateLimitSpec::checked(index, input)?;
            if let Some(first) = specs.iter().position(|earlier| earlier.name == spec.name) {
                return Err(InvalidField::new(
                    path(index, Field::Name),
                    format!("repeats the name of rate_limits[{first}]; names must be unique"),
                ));
            }
            specs.push(spec);
        }
        Ok(Self(specs))
    }

    /// No limits: as a token's own list it means "none", not "inherit".
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// The limits, in the order they were given.
    pub fn specs(&self) -> &[RateLimitSpec] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<RateLimitInput>> for RateLimits {
    type Error = InvalidField;

    fn try_from(inputs: Vec<RateLimitInput>) -> Result<Self, Self::Error> {
        Self::new(inputs)
    }
}

/// The unit cost when a request names no cost.
fn one() -> u64 {
    1
}

/// One entry of a verification's `rate_limits`: which limit to apply and how
/// many units the request costs. `cost` 0 reads the limit's state without
/// spending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSelector {
    /// A limit name, or `owner.` and a name for the owner's limit alone.
    pub name: String,
    /// Units to spend, 0..=the limit. Absent: 1.
    #[serde(default = "one")]
    pub cost: u64,
}

/// A verification's choice of limits, checked for shape (names well formed,
/// each named once, at most [`MAX_APPLIED`]). Whether the names exist and the
/// costs fit is checked against the token by [`super::EffectiveLimits::resolve`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LimitSelector>")]
pub struct LimitRequest(Vec<LimitSelector>);

impl LimitRequest {
    /// Checks the shape of a request's selectors.
    pub fn new(selectors: Vec<LimitSelector>) -> Result<Self, InvalidField> {
        if selectors.len() > MAX_APPLIED {
            return Err(InvalidField::new("rate_limits", format!("must name at most {MAX_APPLIED} limits")));
        }
        let mut seen = HashSet::new();
        for (index, selector) in selectors.iter().enumerate() {
            let bare = selector.name.strip_prefix(super::effective::OWNER_PREFIX).unwrap_or(&selector.name);
            limit_name(path(index, Field::Name), bare)?;
            if selector.cost > MAX_LIMIT {
                return Err(InvalidField::new(path(index, Field::Cost), format!("must be between 0 and {MAX_LIMIT}")));
            }
            if !seen.insert(selector.name.as_str()) {
                return Err(InvalidField::new(path(index, Field::Name), "names a limit already named; name each once"));
            }
        }
        Ok(Self(selectors))
    }

    /// The selectors, in request order.
    pub fn selectors(&self) -> &[LimitSelector] {
        &self.0
    }
}

impl TryFrom<Vec<LimitSelector>> for LimitRequest {
    type Error = InvalidField;

    fn try_from(selectors: Vec<LimitSelector>) -> Result<Self, Self::Error> {
        Self::new(selectors)
    }
}

/// The fields of a `rate_limits[i]` entry that errors can name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    Name,
    Limit,
    PeriodSeconds,
    Cost,
}

// `InvalidField::field` is `&'static str` (other crates match on it), so
// the indexed paths are spelled out once here rather than allocated.
macro_rules! indexed_paths {
    ($field:literal) => {
        [
            concat!("rate_limits[0].", $field),
            concat!("rate_limits[1].", $field),
            concat!("rate_limits[2].", $field),
            concat!("rate_limits[3].", $field),
            concat!("rate_limits[4].", $field),
            concat!("rate_limits[5].", $field),
            concat!("rate_limits[6].", $field),
            concat!("rate_limits[7].", $field),
            concat!("rate_limits[8].", $field),
            concat!("rate_limits[9].", $field),
            concat!("rate_limits[10].", $field),
            concat!("rate_limits[11].", $field),
            concat!("rate_limits[12].", $field),
            concat!("rate_limits[13].", $field),
            concat!("rate_limits[14].", $field),
            concat!("rate_limits[15].", $field),
        ]
    };
}

static NAME_PATHS: [&str; MAX_APPLIED] = indexed_paths!("name");
static LIMIT_PATHS: [&str; MAX_APPLIED] = indexed_paths!("limit");
static PERIOD_PATHS: [&str; MAX_APPLIED] = indexed_paths!("period_seconds");
static COST_PATHS: [&str; MAX_APPLIED] = indexed_paths!("cost");

/// `rate_limits[index].field`; lists are bounded before entries are checked,
/// so the fallback to the list itself is never reached in practice.
pub(crate) fn path(index: usize, field: Field) -> &'static str {
    let table = match field {
        Field::Name => &NAME_PATHS,
        Field::Limit => &LIMIT_PATHS,
        Field::PeriodSeconds => &PERIOD_PATHS,
        Field::Cost => &COST_PATHS,
    };
    table.get(index).copied().unwrap_or("rate_limits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<RateLimits, String> {
        serde_json::from_value::<RateLimits>(value).map_err(|e| e.to_string())
    }

    #[test]
    fn the_issues_example_parses_in_order() {
        let limits = parse(json!([
            {"name": "requests", "limit": 100, "period_seconds": 60},
            {"name": "burst", "limit": 10, "period_seconds": 1}
        ]))
        .unwrap();
        let names: Vec<_> = limits.specs().iter().map(RateLimitSpec::name).collect();
        assert_eq!(names, ["requests", "burst"]);
        assert_eq!(limits.specs()[0].period_micros(), 60_000_000);
        assert_eq!(
            serde_json::to_value(&limits).unwrap()[1],
            json!({"name": "burst", "limit": 10, "period_seconds": 1})
        );
    }

    #[test]
    fn errors_name_the_entry_and_field() {
        let entry =
            |name: &str, limit: u64, period: u64| RateLimitInput { name: name.into(), limit, period_seconds: period };
        let error = |inputs| RateLimits::new(inputs).unwrap_err();
        assert_eq!(error(vec![entry("a", 1, 1), entry("b", 1, 0)]).field, "rate_limits[1].period_seconds");
        assert_eq!(error(vec![entry("a", 0, 1)]).field, "rate_limits[0].limit");
        assert_eq!(error(vec![entry("a", MAX_LIMIT + 1, 1)]).field, "rate_limits[0].limit");
        assert_eq!(error(vec![entry("a", 1, MAX_PERIOD_SECONDS + 1)]).field, "rate_limits[0].period_seconds");
        assert_eq!(error(vec![entry("a", 1, 1), entry("a", 2, 2)]).field, "rate_limits[1].name");
        assert_eq!(error((0..9).map(|i| entry(&format!("l{i}"), 1, 1)).collect()).field, "rate_limits");
        assert!(RateLimits::new((0..8).map(|i| entry(&format!("l{i}"), 1, 1)).collect()).is_ok());
        assert!(RateLimits::new(vec![entry("a", MAX_LIMIT, MAX_PERIOD_SECONDS)]).is_ok());
    }

    #[test]
    fn names_are_a_small_safe_alphabet() {
        for good in ["a", "0", "requests", "per-minute", "x_1", &"a".repeat(32)] {
            assert!(limit_name("n", good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "_a", "A", "owner.x", "a:b", "a b", "é", &"a".repeat(33), "a\"b"] {
            assert!(limit_name("n", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused() {
        assert!(parse(json!([{"name": "a", "limit": 1, "period_seconds": 1, "burst": 2}])).is_err());
        assert!(parse(json!([{"name": "a", "limit": -1, "period_seconds": 1}])).is_err());
        assert!(parse(json!([{"name": "a", "limit": 1}])).is_err());
        let message = parse(json!([{"name": "a", "limit": 1, "period_seconds": 99999999}])).unwrap_err();
        assert!(message.contains("rate_limits[0].period_seconds"), "{message}");
    }

    #[test]
    fn requests_are_checked_for_shape() {
        let request = |value| serde_json::from_value::<LimitRequest>(value).map_err(|e| e.to_string());
        let parsed = request(json!([{"name": "requests", "cost": 5}, {"name": "owner.daily"}])).unwrap();
        assert_eq!(parsed.selectors()[1].cost, 1);
        assert!(request(json!([{"name": "a"}, {"name": "a", "cost": 2}])).unwrap_err().contains("rate_limits[1].name"));
        assert!(request(json!([{"name": "a", "cost": MAX_LIMIT + 1}])).unwrap_err().contains("rate_limits[0].cost"));
        assert!(request(json!([{"name": "Bad"}])).is_err());
        assert!(request(json!([{"name": "owner."}])).is_err());
        assert!(request(json!([{"name": "a", "weight": 1}])).is_err());
        let many: Vec<_> = (0..17).map(|i| json!({"name": format!("l{i}")})).collect();
        assert!(request(json!(many)).unwrap_err().contains("at most 16"));
    }
}
