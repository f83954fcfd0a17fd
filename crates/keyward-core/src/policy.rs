//! Token policies: an organization's rules for the tokens in it, set by its
//! owners. A policy is enforced when a token is created or changed; tokens
//! that already exist and break a newer policy are reported, never silently
//! broken, so tightening a policy cannot take production down.

use serde::{Deserialize, Serialize};

use crate::ip::IpNet;
use crate::scope;
use crate::validate::{self, InvalidField};

/// An organization's token policy. The default is no rule at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenPolicy {
    /// Longest lifetime a token may be given, in seconds.
    pub max_lifetime_seconds: Option<i64>,
    /// Lifetime given to tokens created without an expiry (before the
    /// keyspace's own default), in seconds.
    pub default_lifetime_seconds: Option<i64>,
    /// Whether every token must expire.
    pub require_expiry: bool,
    /// When set, the only customer scopes that may be granted (wildcards
    /// explicit, as everywhere). Management scopes are governed by roles.
    pub grantable_scopes: Option<Vec<String>>,
    /// Whether every token must carry an IP allowlist.
    pub require_ip_allowlist: bool,
    /// Most active tokens one owner may hold.
    pub max_active_tokens_per_owner: Option<u32>,
    /// Longest grace period a rotation may give the old token, in seconds
    /// ([`DEFAULT_MAX_ROTATION_GRACE_SECONDS`] when unset).
    pub max_rotation_grace_seconds: Option<i64>,
    /// Disable tokens nobody used for this many days (counted from their
    /// last use, creation or re-enabling, whichever is latest).
    pub disable_after_inactive_days: Option<u32>,
    /// Days before an expiry or an inactivity disabling that a warning
    /// event is sent ([`DEFAULT_WARNING_DAYS`] when unset; `[]` for none).
    pub warning_days: Option<Vec<u32>>,
    /// Rotate every token at least this often, in days (a token may set a
    /// shorter or longer period of its own): due tokens are flagged and
    /// announced with `token.rotation_due`.
    pub rotation_period_days: Option<u32>,
}

/// When warnings go out if a policy sets none: a week ahead, for a team to
/// plan, and a day ahead, for whoever has not.
pub const DEFAULT_WARNING_DAYS: &[u32] = &[7, 1];
/// The longest period any lifecycle rule counts in days: ten years.
pub const MAX_LIFECYCLE_DAYS: u32 = 3650;

/// The longest rotation grace period when a policy sets none: a week, time
/// for a weekly deploy to pick up the new token.
pub const DEFAULT_MAX_ROTATION_GRACE_SECONDS: i64 = 7 * 24 * 3600;
/// The longest rotation grace period any policy may allow: long grace
/// periods keep a replaced secret alive, which is what rotation ends.
pub const CEILING_ROTATION_GRACE_SECONDS: i64 = 90 * 24 * 3600;

/// One way a token breaks a policy. The wire name ([`Violation::code`]) is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// It never expires, but the policy requires an expiry.
    NoExpiry,
    /// Its lifetime exceeds the maximum.
    LifetimeTooLong,
    /// It holds a scope the policy does not let anyone grant.
    ScopeNotGrantable(String),
    /// It has no IP allowlist, but the policy requires one.
    NoIpAllowlist,
    /// Its owner holds more active tokens than allowed.
    OwnerOverLimit,
}

impl Violation {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Violation::NoExpiry => "expiry_required",
            Violation::LifetimeTooLong => "lifetime_too_long",
            Violation::ScopeNotGrantable(_) => "scope_not_grantable",
            Violation::NoIpAllowlist => "ip_allowlist_required",
            Violation::OwnerOverLimit => "too_many_active_tokens",
        }
    }

    /// A sentence for people, naming what to change.
    pub fn explain(&self, policy: &TokenPolicy) -> String {
        match self {
            Violation::NoExpiry => "The organization's policy requires every token to expire.".into(),
            Violation::LifetimeTooLong => format!(
                "The organization's policy allows a lifetime of at most {} seconds.",
                policy.max_lifetime_seconds.unwrap_or_default()
            ),
            Violation::ScopeNotGrantable(scope) => {
                format!("The organization's policy does not allow granting `{scope}`.")
            }
            Violation::NoIpAllowlist => "The organization's policy requires an IP allowlist.".into(),
            Violation::OwnerOverLimit => format!(
                "The organization's policy allows at most {} active tokens per owner.",
                policy.max_active_tokens_per_owner.unwrap_or_default()
            ),
        }
    }

    /// The request field a caller changes to comply.
    pub fn field(&self) -> &'static str {
        match self {
            Violation::NoExpiry | Violation::LifetimeTooLong => "expires_at",
            Violation::ScopeNotGrantable(_) => "scopes",
            Violation::NoIpAllowlist => "allowed_ips",
            Violation::OwnerOverLimit => "owner",
        }
    }
}

/// The facts about one token a policy judges.
#[derive(Debug, Clone, Copy)]
pub struct TokenShape<'a> {
    /// Creation time, microseconds.
    pub created_at_micros: i64,
    /// Expiry, microseconds, if any.
    pub expires_at_micros: Option<i64>,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// IP allowlist.
    pub allowed_ips: &'a [IpNet],
    /// Whether it is a management token (scopes governed by roles, not by
    /// `grantable_scopes`).
    pub management: bool,
}

impl TokenPolicy {
    /// The longest grace period a rotation may give, in seconds.
    pub fn rotation_grace_limit(&self) -> i64 {
        self.max_rotation_grace_seconds.unwrap_or(DEFAULT_MAX_ROTATION_GRACE_SECONDS)
    }

    /// Days before an event that warnings go out, largest first.
    pub fn warning_days(&self) -> Vec<u32> {
        let mut days = self.warning_days.clone().unwrap_or_else(|| DEFAULT_WARNING_DAYS.to_vec());
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        days
    }

    /// Checks a policy as given by an owner.
    pub fn validate(self) -> Result<Self, InvalidField> {
        if let Some(max) = self.max_lifetime_seconds {
            validate::ttl_seconds("max_lifetime_seconds", max)?;
        }
        if let Some(default) = self.default_lifetime_seconds {
            validate::ttl_seconds("default_lifetime_seconds", default)?;
            if self.max_lifetime_seconds.is_some_and(|max| default > max) {
                return Err(InvalidField::new("default_lifetime_seconds", "must not exceed max_lifetime_seconds"));
            }
        }
        if self.max_active_tokens_per_owner == Some(0) {
            return Err(InvalidField::new("max_active_tokens_per_owner", "must be at least 1 (omit it for no limit)"));
        }
        if let Some(max) = self.max_rotation_grace_seconds {
            if !(0..=CEILING_ROTATION_GRACE_SECONDS).contains(&max) {
                return Err(InvalidField::new(
                    "max_rotation_grace_seconds",
                    format!("must be between 0 and {CEILING_ROTATION_GRACE_SECONDS} seconds (90 days)"),
                ));
            }
        }
        for (field, days) in [
            ("disable_after_inactive_days", self.disable_after_inactive_days),
            ("rotation_period_days", self.rotation_period_days),
        ] {
            days.map(|days| validate::lifecycle_days(field, days)).transpose()?;
        }
        if let Some(warnings) = &self.warning_days {
            if warnings.len() > 5 {
                return Err(InvalidField::new("warning_days", "at most 5 warnings"));
            }
            if warnings.iter().any(|days| !(1..=365).contains(days)) {
                return Err(InvalidField::new("warning_days", "each must be between 1 and 365 days"));
            }
        }
        let grantable_scopes = self
            .grantable_scopes
            .map(|list| {
                let list = scope::normalize(&list).map_err(|e| InvalidField::new("grantable_scopes", e.to_string()))?;
                match list.iter().find(|s| scope::is_management(s)) {
                    Some(reserved) => Err(InvalidField::new(
                        "grantable_scopes",
                        format!("`{reserved}` is a management scope; those are governed by roles"),
                    )),
                    None => Ok(list),
                }
            })
            .transpose()?;
        Ok(Self { grantable_scopes, ..self })
    }

    /// Whether the policy sets any rule.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Every rule `token` breaks on its own (the per-owner count is judged
    /// separately, since it depends on other tokens).
    pub fn violations(&self, token: &TokenShape<'_>) -> Vec<Violation> {
        let mut found = Vec::new();
        match token.expires_at_micros {
            None if self.require_expiry => found.push(Violation::NoExpiry),
            None if self.max_lifetime_seconds.is_some() => found.push(Violation::LifetimeTooLong),
            Some(expires) => {
                let lifetime = expires.saturating_sub(token.created_at_micros);
                if self.max_lifetime_seconds.is_some_and(|max| lifetime > max.saturating_mul(1_000_000)) {
                    found.push(Violation::LifetimeTooLong);
                }
            }
            None => {}
        }
        if let (Some(grantable), false) = (&self.grantable_scopes, token.management) {
            for held in token.scopes {
                if !grantable.iter().any(|allowed| scope::grants(allowed, held)) {
                    found.push(Violation::ScopeNotGrantable(held.clone()));
                }
            }
        }
        if self.require_ip_allowlist && token.allowed_ips.is_empty() {
            found.push(Violation::NoIpAllowlist);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn shape<'a>(expires: Option<i64>, scopes: &'a [String], ips: &'a [IpNet]) -> TokenShape<'a> {
        TokenShape { created_at_micros: 0, expires_at_micros: expires, scopes, allowed_ips: ips, management: false }
    }

    #[test]
    fn an_empty_policy_allows_everything() {
        let scopes = vec!["anything:at_all".to_owned()];
        assert!(TokenPolicy::default().violations(&shape(None, &scopes, &[])).is_empty());
        assert!(TokenPolicy::default().is_empty());
    }

    #[test]
    fn lifetime_is_judged_at_the_exact_boundary() {
        let policy = TokenPolicy { max_lifetime_seconds: Some(3600), ..TokenPolicy::default() };
        assert!(policy.violations(&shape(Some(HOUR), &[], &[])).is_empty());
        assert_eq!(policy.violations(&shape(Some(HOUR + 1), &[], &[])), vec![Violation::LifetimeTooLong]);
        assert_eq!(policy.violations(&shape(None, &[], &[])), vec![Violation::LifetimeTooLong], "never is too long");
        let required = TokenPolicy { require_expiry: true, ..policy };
        assert_eq!(required.violations(&shape(None, &[], &[])), vec![Violation::NoExpiry]);
    }

    #[test]
    fn grantable_scopes_use_explicit_wildcards_and_skip_management_tokens() {
        let policy = TokenPolicy { grantable_scopes: Some(vec!["invoices:*".into()]), ..TokenPolicy::default() };
        let scopes = vec!["invoices:read@project/1".to_owned(), "users:delete".to_owned()];
        assert_eq!(
            policy.violations(&shape(None, &scopes, &[])),
            vec![Violation::ScopeNotGrantable("users:delete".into())]
        );
        let management = TokenShape { management: true, ..shape(None, &scopes, &[]) };
        assert!(policy.violations(&management).is_empty());
    }

    #[test]
    fn ip_allowlists_can_be_required() {
        let policy = TokenPolicy { require_ip_allowlist: true, ..TokenPolicy::default() };
        assert_eq!(policy.violations(&shape(None, &[], &[])), vec![Violation::NoIpAllowlist]);
        let ips = crate::ip::parse_list(&["10.0.0.0/8"]).unwrap_or_default();
        assert!(policy.violations(&shape(None, &[], &ips)).is_empty());
    }

    #[test]
    fn malformed_policies_name_their_field() {
        let bad = |policy: TokenPolicy| policy.validate().map(|_| ()).unwrap_err().field;
        let over = TokenPolicy {
            max_lifetime_seconds: Some(60),
            default_lifetime_seconds: Some(61),
            ..TokenPolicy::default()
        };
        assert_eq!(bad(over), "default_lifetime_seconds");
        assert_eq!(
            bad(TokenPolicy { max_lifetime_seconds: Some(0), ..TokenPolicy::default() }),
            "max_lifetime_seconds"
        );
        assert_eq!(
            bad(TokenPolicy { max_active_tokens_per_owner: Some(0), ..TokenPolicy::default() }),
            "max_active_tokens_per_owner"
        );
        assert_eq!(
            bad(TokenPolicy { max_rotation_grace_seconds: Some(-1), ..TokenPolicy::default() }),
            "max_rotation_grace_seconds"
        );
        assert_eq!(
            bad(TokenPolicy {
                max_rotation_grace_seconds: Some(CEILING_ROTATION_GRACE_SECONDS + 1),
                ..TokenPolicy::default()
            }),
            "max_rotation_grace_seconds"
        );
        let reserved = TokenPolicy { grantable_scopes: Some(vec!["keyward:verify".into()]), ..TokenPolicy::default() };
        assert_eq!(bad(reserved), "grantable_scopes");
        let malformed = TokenPolicy { grantable_scopes: Some(vec!["Nope".into()]), ..TokenPolicy::default() };
        assert_eq!(bad(malformed), "grantable_scopes");
        let idle = TokenPolicy { disable_after_inactive_days: Some(0), ..TokenPolicy::default() };
        assert_eq!(bad(idle), "disable_after_inactive_days");
        let rotation = TokenPolicy { rotation_period_days: Some(MAX_LIFECYCLE_DAYS + 1), ..TokenPolicy::default() };
        assert_eq!(bad(rotation), "rotation_period_days");
        assert_eq!(bad(TokenPolicy { warning_days: Some(vec![0]), ..TokenPolicy::default() }), "warning_days");
        assert_eq!(bad(TokenPolicy { warning_days: Some(vec![1; 6]), ..TokenPolicy::default() }), "warning_days");
    }

    #[test]
    fn warnings_default_to_a_week_and_a_day_and_come_largest_first() {
        assert_eq!(TokenPolicy::default().warning_days(), vec![7, 1]);
        let custom = TokenPolicy { warning_days: Some(vec![1, 30, 1]), ..TokenPolicy::default() };
        assert_eq!(custom.warning_days(), vec![30, 1]);
        assert!(TokenPolicy { warning_days: Some(vec![]), ..TokenPolicy::default() }.warning_days().is_empty());
    }
}
