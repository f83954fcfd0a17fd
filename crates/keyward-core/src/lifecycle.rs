//! The lifecycle schedule: which notices a token is owed at an instant.
//!
//! Pure, so every boundary is tested exactly. The engine's scheduler reads
//! the tokens that may be owed something, asks [`due`], and records each
//! notice once. A notice is keyed by its token, its [`Notice::kind`] and the
//! instant it is about ([`Notice::about`]): running the schedule twice, or
//! on two instances at once, announces nothing twice, and a token whose
//! expiry moves (a rotation grace extended) or that is used again (its
//! inactivity count restarts) is warned afresh.

use chrono::{DateTime, Duration, Utc};

use crate::audit::{AuditEntry, NoticedToken};
use crate::model::{DisabledReason, TokenRecord};
use crate::policy::TokenPolicy;

/// The rules of one organization, read off its policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    /// Days ahead that warnings go out, largest first.
    pub warning_days: Vec<u32>,
    /// Disable tokens unused for this many days.
    pub disable_after_inactive_days: Option<u32>,
    /// Rotation period for tokens without their own.
    pub rotation_period_days: Option<u32>,
}

impl Schedule {
    /// The schedule an organization's policy sets.
    pub fn from_policy(policy: &TokenPolicy) -> Self {
        Self {
            warning_days: policy.warning_days(),
            disable_after_inactive_days: policy.disable_after_inactive_days,
            rotation_period_days: policy.rotation_period_days,
        }
    }

    /// The schedule of one keyspace's tokens: its own rotation period and
    /// inactivity rule where it sets them, else the organization's.
    pub fn for_keyspace(policy: &TokenPolicy, keyspace: &crate::model::Keyspace) -> Self {
        let organization = Self::from_policy(policy);
        Self {
            warning_days: organization.warning_days,
            disable_after_inactive_days: keyspace
                .disable_after_inactive_days
                .or(organization.disable_after_inactive_days),
            rotation_period_days: keyspace.rotation_period_days.or(organization.rotation_period_days),
        }
    }
}

/// Something a token is owed at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// It expires within `days_before` days.
    Expiring {
        /// The warning period it falls in.
        days_before: u32,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// It has reached its expiry.
    Expired {
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// It will be disabled for inactivity within `days_before` days.
    InactivityWarning {
        /// The warning period it falls in.
        days_before: u32,
        /// When it will be disabled unless used before.
        disables_at: DateTime<Utc>,
        /// Its last use, creation or re-enabling.
        last_activity_at: DateTime<Utc>,
    },
    /// It went unused too long: disable it.
    DisableInactive {
        /// When the inactivity rule was met.
        disables_at: DateTime<Utc>,
        /// Its last use, creation or re-enabling.
        last_activity_at: DateTime<Utc>,
    },
    /// It is older than its rotation period.
    RotationDue {
        /// When rotation became due.
        due_at: DateTime<Utc>,
        /// The period that applies to it.
        period_days: u32,
    },
}

impl Notice {
    /// The notice's key within its token: warnings differ by their period.
    pub fn kind(&self) -> String {
        match self {
            Notice::Expiring { days_before, .. } => format!("expiring:{days_before}d"),
            Notice::Expired { .. } => "expired".into(),
            Notice::InactivityWarning { days_before, .. } => format!("inactivity_warning:{days_before}d"),
            Notice::DisableInactive { .. } => "disabled_inactive".into(),
            Notice::RotationDue { .. } => "rotation_due".into(),
        }
    }

    /// The instant the notice is about: the same notice about another
    /// instant is a new notice.
    pub fn about(&self) -> DateTime<Utc> {
        match self {
            Notice::Expiring { expires_at, .. } | Notice::Expired { expires_at } => *expires_at,
            Notice::InactivityWarning { disables_at, .. } | Notice::DisableInactive { disables_at, .. } => *disables_at,
            Notice::RotationDue { due_at, .. } => *due_at,
        }
    }

    /// The audit entry that announces it (its action is also the webhook
    /// event type), naming the token (never a secret).
    pub fn entry<'a>(&self, token: &'a TokenRecord) -> AuditEntry<'a> {
        let named = NoticedToken {
            name: &token.name,
            owner: &token.owner,
            keyspace_id: &token.keyspace_id,
            masked: token.masked(),
        };
        match *self {
            Notice::Expiring { days_before, expires_at } => {
                AuditEntry::TokenExpiring { expires_at, days_before, token: named }
            }
            Notice::Expired { expires_at } => AuditEntry::TokenExpired { expires_at, token: named },
            Notice::InactivityWarning { days_before, disables_at, last_activity_at } => {
                AuditEntry::TokenInactivityWarning { disables_at, days_before, last_activity_at, token: named }
            }
            Notice::DisableInactive { last_activity_at, .. } => {
                AuditEntry::TokenDisabledInactive { reason: DisabledReason::Inactivity, last_activity_at, token: named }
            }
            Notice::RotationDue { due_at, period_days } => {
                AuditEntry::TokenRotationDue { due_at, rotation_period_days: period_days, token: named }
            }
        }
    }
}

/// The latest of its creation, last use and re-enabling: inactivity counts
/// from there.
pub fn last_activity(token: &TokenRecord) -> DateTime<Utc> {
    [Some(token.created_at), token.usage.last_used_at, token.enabled_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(token.created_at)
}

/// When a token's rotation is (or was) due: its own period, else the
/// organization's, counted from its creation (a rotation's replacement
/// starts a new count).
pub fn rotation_due_at(token: &TokenRecord, default_period_days: Option<u32>) -> Option<(DateTime<Utc>, u32)> {
    let period = token.rotation_period_days.or(default_period_days)?;
    Some((token.created_at + days(period), period))
}

fn days(count: u32) -> Duration {
    Duration::days(i64::from(count))
}

/// The warning a deadline is owed at `now`: the smallest period it is
/// inside of, skipping periods that began before `since` (a token born two
/// days before its expiry gets no "a week left" warning).
fn warning(warning_days: &[u32], deadline: DateTime<Utc>, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<u32> {
    warning_days.iter().rev().copied().find(|&before| {
        let opens = deadline - days(before);
        opens >= since && now >= opens
    })
}

/// What `token` is owed at `now` under `schedule`. Revoked, disabled and
/// rotated-away tokens are owed nothing: their end was already announced.
pub fn due(token: &TokenRecord, schedule: &Schedule, now: DateTime<Utc>) -> Vec<Notice> {
    let mut owed = Vec::new();
    if token.is_revoked() || token.is_disabled() || token.is_replaced() {
        return owed;
    }
    if let Some(expires_at) = token.expires_at {
        if now >= expires_at {
            owed.push(Notice::Expired { expires_at });
            return owed;
        }
        if let Some(days_before) = warning(&schedule.warning_days, expires_at, token.created_at, now) {
            owed.push(Notice::Expiring { days_before, expires_at });
        }
    }
    // Management tokens are never disabled for inactivity: one may be the
    // organization's only way into its own API, and a lockout is worse
    // than a quiet admin token (their owners still get expiry notices).
    if let (Some(inactive_days), false) = (schedule.disable_after_inactive_days, token.management) {
        let last_activity_at = last_activity(token);
        let disables_at = last_activity_at + days(inactive_days);
        if now >= disables_at {
            owed.push(Notice::DisableInactive { disables_at, last_activity_at });
            return owed;
        }
        if let Some(days_before) = warning(&schedule.warning_days, disables_at, last_activity_at, now) {
            owed.push(Notice::InactivityWarning { days_before, disables_at, last_activity_at });
        }
    }
    if let Some((due_at, period_days)) = rotation_due_at(token, schedule.rotation_period_days) {
        if now >= due_at {
            owed.push(Notice::RotationDue { due_at, period_days });
        }
    }
    owed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::micros_to_datetime;
    use crate::model::{Disabling, Replacement, Revocation};

    const DAY: i64 = 86_400_000_000;
    const SECOND: i64 = 1_000_000;

    fn token(expires_day: Option<i64>) -> TokenRecord {
        let mut token = crate::model::tests_support::record(expires_day.map(|day| day * DAY), None);
        token.created_at = micros_to_datetime(0);
        token
    }

    fn at(micros: i64) -> DateTime<Utc> {
        micros_to_datetime(micros)
    }

    fn kinds(token: &TokenRecord, schedule: &Schedule, now: i64) -> Vec<String> {
        due(token, schedule, at(now)).iter().map(Notice::kind).collect()
    }

    fn warnings() -> Schedule {
        Schedule { warning_days: vec![7, 1], ..Schedule::default() }
    }

    #[test]
    fn expiry_warnings_and_expiry_fall_on_their_exact_instants() {
        let token = token(Some(30));
        let schedule = warnings();
        let week_before = 23 * DAY;
        assert!(kinds(&token, &schedule, week_before - SECOND).is_empty());
        assert_eq!(kinds(&token, &schedule, week_before), ["expiring:7d"]);
        assert_eq!(kinds(&token, &schedule, week_before + SECOND), ["expiring:7d"]);
        assert_eq!(kinds(&token, &schedule, 29 * DAY - SECOND), ["expiring:7d"]);
        assert_eq!(kinds(&token, &schedule, 29 * DAY), ["expiring:1d"]);
        assert_eq!(kinds(&token, &schedule, 30 * DAY - SECOND), ["expiring:1d"]);
        assert_eq!(kinds(&token, &schedule, 30 * DAY), ["expired"]);
        assert_eq!(kinds(&token, &schedule, 30 * DAY + SECOND), ["expired"]);
        assert_eq!(due(&token, &schedule, at(30 * DAY))[0].about(), at(30 * DAY));
    }

    #[test]
    fn a_token_born_inside_a_warning_period_skips_that_warning() {
        let token = token(Some(2));
        assert!(kinds(&token, &warnings(), 0).is_empty(), "no 'a week left' for a two-day token");
        assert_eq!(kinds(&token, &warnings(), DAY), ["expiring:1d"]);
        assert!(kinds(&token, &Schedule::default(), DAY).is_empty(), "no warning periods, no warnings");
    }

    #[test]
    fn inactivity_counts_from_the_latest_activity_and_warns_before() {
        let schedule = Schedule { disable_after_inactive_days: Some(30), ..warnings() };
        let mut token = token(None);
        assert_eq!(kinds(&token, &schedule, 23 * DAY - SECOND), Vec::<String>::new());
        assert_eq!(kinds(&token, &schedule, 23 * DAY), ["inactivity_warning:7d"]);
        assert_eq!(kinds(&token, &schedule, 30 * DAY - SECOND), ["inactivity_warning:1d"]);
        assert_eq!(kinds(&token, &schedule, 30 * DAY), ["disabled_inactive"]);
        token.usage.last_used_at = Some(at(10 * DAY));
        assert!(kinds(&token, &schedule, 30 * DAY).is_empty(), "a use restarts the count");
        assert_eq!(kinds(&token, &schedule, 40 * DAY), ["disabled_inactive"]);
        let management = TokenRecord { management: true, ..token.clone() };
        assert!(kinds(&management, &schedule, 90 * DAY).is_empty(), "management tokens are not disabled for silence");
        token.enabled_at = Some(at(45 * DAY));
        assert_eq!(kinds(&token, &schedule, 75 * DAY - SECOND), ["inactivity_warning:1d"]);
        let Notice::InactivityWarning { last_activity_at, disables_at, .. } = &due(&token, &schedule, at(74 * DAY))[0]
        else {
            panic!("expected a warning");
        };
        assert_eq!((*last_activity_at, *disables_at), (at(45 * DAY), at(75 * DAY)));
    }

    #[test]
    fn rotation_is_due_after_the_tokens_own_period_or_the_policys() {
        let schedule = Schedule { rotation_period_days: Some(90), ..Schedule::default() };
        let mut token = token(None);
        assert!(kinds(&token, &schedule, 90 * DAY - SECOND).is_empty());
        assert_eq!(kinds(&token, &schedule, 90 * DAY), ["rotation_due"]);
        assert_eq!(kinds(&token, &schedule, 90 * DAY + SECOND), ["rotation_due"]);
        token.rotation_period_days = Some(30);
        assert!(kinds(&token, &schedule, 30 * DAY - SECOND).is_empty());
        assert_eq!(kinds(&token, &schedule, 30 * DAY), ["rotation_due"]);
        assert_eq!(rotation_due_at(&token, None), Some((at(30 * DAY), 30)));
    }

    #[test]
    fn ended_tokens_are_owed_nothing_and_expiry_comes_before_the_other_rules() {
        let schedule = Schedule { disable_after_inactive_days: Some(10), rotation_period_days: Some(10), ..warnings() };
        let expired = token(Some(5));
        assert_eq!(kinds(&expired, &schedule, 20 * DAY), ["expired"]);
        let mut revoked = token(None);
        revoked.revocation = Some(Revocation { at: at(DAY), reason: None });
        assert!(kinds(&revoked, &schedule, 20 * DAY).is_empty());
        let mut disabled = token(None);
        disabled.disabling = Some(Disabling { at: at(DAY), reason: None });
        assert!(kinds(&disabled, &schedule, 20 * DAY).is_empty());
        let mut rotated = token(Some(30));
        rotated.replacement = Some(Replacement { by: "tok_next".into(), at: at(DAY), expires_at_before: None });
        assert!(kinds(&rotated, &schedule, 40 * DAY).is_empty());
    }
}
