//! Which limits apply to a token, and which of those a verification asks for.
//!
//! Inheritance: a token's own list wins when it is set, even when empty (an
//! explicit `[]` means "no limits"); otherwise the keyspace's defaults apply.
//! The owner's shared limits are then added, always.
//!
//! Name collisions between a token limit and an owner limit are allowed and
//! both apply: they are different buckets (one per token, one shared by all
//! the owner's tokens), and letting either hide the other would let whoever
//! sets a token's limits escape the owner's cap, or the reverse. To keep every
//! reported name unique, an owner limit is reported as `owner.<name>`; a
//! request naming `<name>` applies both, `owner.<name>` only the owner's.

use serde::Serialize;

use super::spec::{path, Field, LimitRequest, RateLimitSpec, RateLimits};
use crate::validate::InvalidField;

/// The prefix that marks an owner-wide limit in reports and requests.
pub const OWNER_PREFIX: &str = "owner.";

/// Whose bucket a limit counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// This token alone (its own limits or its keyspace's defaults).
    Token,
    /// Every token of the same owner, together.
    Owner,
}

/// A limit that applies to a token, with the bucket it counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EffectiveLimit {
    /// Whose bucket.
    pub scope: LimitScope,
    /// The limit.
    pub spec: RateLimitSpec,
}

impl EffectiveLimit {
    /// The name reported in answers and headers: the limit's name, or
    /// `owner.` and the name for an owner limit. Unique within a token's
    /// effective limits.
    pub fn reported_name(&self) -> String {
        match self.scope {
            LimitScope::Token => self.spec.name().to_owned(),
            LimitScope::Owner => format!("{OWNER_PREFIX}{}", self.spec.name()),
        }
    }

    fn answers_to(&self, selector: &str) -> bool {
        match self.scope {
            LimitScope::Token => selector == self.spec.name(),
            LimitScope::Owner => {
                selector == self.spec.name() || selector.strip_prefix(OWNER_PREFIX) == Some(self.spec.name())
            }
        }
    }
}

/// Every limit that applies to one token: token-scoped first (in their
/// list's order), then the owner's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveLimits(Vec<EffectiveLimit>);

/// One limit a verification applies, and what it costs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedLimit<'a> {
    /// The limit.
    pub limit: &'a EffectiveLimit,
    /// Units to spend, `0..=limit`.
    pub cost: u64,
}

impl EffectiveLimits {
    /// The limits of a token whose own list is `token` (`None`: never set,
    /// so the keyspace's `defaults` apply) and whose owner shares `owner`.
    pub fn inherit(token: Option<&RateLimits>, defaults: &RateLimits, owner: &RateLimits) -> Self {
        let own = token.unwrap_or(defaults);
        let scoped = |scope| move |spec: &RateLimitSpec| EffectiveLimit { scope, spec: spec.clone() };
        let limits = own
            .specs()
            .iter()
            .map(scoped(LimitScope::Token))
            .chain(owner.specs().iter().map(scoped(LimitScope::Owner)))
            .collect();
        Self(limits)
    }

    /// The limits, token-scoped first.
    pub fn limits(&self) -> &[EffectiveLimit] {
        &self.0
    }

    /// Whether no limit applies (then a verification needs no limiter).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What a verification applies: every limit at cost 1 when it names
    /// none, else the named ones at their costs. A name no limit answers to,
    /// a limit named twice (`requests` and `owner.requests` both reach the
    /// owner's), or a cost above a limit (it could never be admitted, so
    /// refusing it now beats a client retrying forever) is an error naming
    /// the request's entry.
    pub fn resolve(&self, request: Option<&LimitRequest>) -> Result<Vec<AppliedLimit<'_>>, InvalidField> {
        let Some(request) = request else {
            return Ok(self.0.iter().map(|limit| AppliedLimit { limit, cost: 1 }).collect());
        };
        let mut applied: Vec<AppliedLimit<'_>> = Vec::with_capacity(request.selectors().len());
        for (index, selector) in request.selectors().iter().enumerate() {
            let mut matched = false;
            for limit in self.0.iter().filter(|limit| limit.answers_to(&selector.name)) {
                matched = true;
                if applied.iter().any(|earlier| std::ptr::eq(earlier.limit, limit)) {
                    return Err(InvalidField::new(
                        path(index, Field::Name),
                        format!("applies {} again; name each limit once", limit.reported_name()),
                    ));
                }
                if selector.cost > limit.spec.limit() {
                    return Err(InvalidField::new(
                        path(index, Field::Cost),
                        format!(
                            "{} is more than {} allows in any burst ({} per {} s), so it could never be admitted",
                            selector.cost,
                            limit.reported_name(),
                            limit.spec.limit(),
                            limit.spec.period_seconds()
                        ),
                    ));
                }
                applied.push(AppliedLimit { limit, cost: selector.cost });
            }
            if !matched {
                return Err(InvalidField::new(
                    path(index, Field::Name),
                    format!("no rate limit named \"{}\" applies to this token", selector.name),
                ));
            }
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::spec::RateLimitInput;
    use serde_json::json;

    fn limits(entries: &[(&str, u64, u64)]) -> RateLimits {
        let inputs = entries
            .iter()
            .map(|(name, limit, period)| RateLimitInput {
                name: (*name).into(),
                limit: *limit,
                period_seconds: *period,
            })
            .collect();
        RateLimits::new(inputs).unwrap()
    }

    fn request(value: serde_json::Value) -> LimitRequest {
        serde_json::from_value(value).unwrap()
    }

    fn names(effective: &EffectiveLimits) -> Vec<String> {
        effective.limits().iter().map(EffectiveLimit::reported_name).collect()
    }

    #[test]
    fn a_token_inherits_unless_it_sets_its_own_even_empty() {
        let defaults = limits(&[("requests", 100, 60)]);
        let own = limits(&[("burst", 10, 1)]);
        let owner = limits(&[("daily", 1000, 86_400)]);
        assert_eq!(names(&EffectiveLimits::inherit(None, &defaults, &owner)), ["requests", "owner.daily"]);
        assert_eq!(names(&EffectiveLimits::inherit(Some(&own), &defaults, &owner)), ["burst", "owner.daily"]);
        let explicit_none = RateLimits::none();
        assert_eq!(names(&EffectiveLimits::inherit(Some(&explicit_none), &defaults, &owner)), ["owner.daily"]);
        assert!(EffectiveLimits::inherit(Some(&explicit_none), &defaults, &RateLimits::none()).is_empty());
    }

    #[test]
    fn colliding_names_both_apply_and_stay_distinguishable() {
        let token = limits(&[("requests", 100, 60)]);
        let owner = limits(&[("requests", 1000, 3600)]);
        let effective = EffectiveLimits::inherit(Some(&token), &RateLimits::none(), &owner);
        assert_eq!(names(&effective), ["requests", "owner.requests"]);

        let both = effective.resolve(Some(&request(json!([{"name": "requests", "cost": 5}])))).unwrap();
        assert_eq!(
            both.iter().map(|a| (a.limit.reported_name(), a.cost)).collect::<Vec<_>>(),
            [("requests".to_owned(), 5), ("owner.requests".to_owned(), 5)]
        );
        let owner_only = effective.resolve(Some(&request(json!([{"name": "owner.requests"}])))).unwrap();
        assert_eq!(owner_only.len(), 1);
        assert_eq!(owner_only[0].limit.scope, LimitScope::Owner);

        let twice = effective.resolve(Some(&request(json!([{"name": "requests"}, {"name": "owner.requests"}]))));
        assert_eq!(twice.unwrap_err().field, "rate_limits[1].name");
    }

    #[test]
    fn absent_means_every_limit_at_cost_one_and_zero_cost_peeks() {
        let effective = EffectiveLimits::inherit(None, &limits(&[("a", 3, 1), ("b", 4, 1)]), &RateLimits::none());
        let all = effective.resolve(None).unwrap();
        assert_eq!(all.iter().map(|a| a.cost).collect::<Vec<_>>(), [1, 1]);
        let peek = effective.resolve(Some(&request(json!([{"name": "b", "cost": 0}])))).unwrap();
        assert_eq!((peek[0].limit.spec.name(), peek[0].cost), ("b", 0));
        assert!(effective.resolve(Some(&request(json!([])))).unwrap().is_empty());
    }

    #[test]
    fn unknown_names_and_impossible_costs_are_refused_precisely() {
        let effective = EffectiveLimits::inherit(None, &limits(&[("requests", 100, 60)]), &RateLimits::none());
        let unknown = effective.resolve(Some(&request(json!([{"name": "requests"}, {"name": "nope"}])))).unwrap_err();
        assert_eq!(unknown.field, "rate_limits[1].name");
        assert!(unknown.message.contains("\"nope\""), "{}", unknown.message);
        let too_costly = effective.resolve(Some(&request(json!([{"name": "requests", "cost": 101}])))).unwrap_err();
        assert_eq!(too_costly.field, "rate_limits[0].cost");
        assert!(too_costly.message.contains("never be admitted"), "{}", too_costly.message);
        assert!(effective.resolve(Some(&request(json!([{"name": "requests", "cost": 100}])))).is_ok());
        let owner_name = effective.resolve(Some(&request(json!([{"name": "owner.requests"}])))).unwrap_err();
        assert_eq!(owner_name.field, "rate_limits[0].name", "a token limit does not answer to owner.");
    }
}
