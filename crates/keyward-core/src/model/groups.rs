//! The fields of a [`TokenRecord`] that are only ever set together, as one
//! value each: a revocation reason without its time, or a replacement
//! without the time it happened, cannot be built. The database keeps them
//! as separate nullable columns; [`Revocation::from_columns`] and its
//! siblings are where a row (or flat JSON) becomes a group, and the only
//! place a half-set group is refused.

use chrono::{DateTime, Utc};

use super::{DisabledReason, RevokedReason, TokenRecord};

/// When and why a token was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// When.
    pub at: DateTime<Utc>,
    /// Why. Optional like its column: every revocation Keyward writes
    /// names one, but a revocation stored without one is shown without one
    /// (`null`), and rotation-reuse detection then judges by the expiry
    /// cause; reading it as [`RevokedReason::UserAction`] would change both.
    pub reason: Option<RevokedReason>,
}

/// How a token was replaced by rotation. From then on its `expires_at` is
/// the end of the rotation's grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The token that replaced it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Its own expiry before the grace period shortened it: the grace
    /// period can be extended up to this, never past it. `None` when it had
    /// none, or when it was rotated without a grace period.
    pub expires_at_before: Option<DateTime<Utc>>,
}

/// When and why a token was disabled: it answers `DISABLED` until enabled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disabling {
    /// When.
    pub at: DateTime<Utc>,
    /// Why. Optional like its column, for the same reason as
    /// [`Revocation::reason`]: a missing one is shown as `null`, not guessed.
    pub reason: Option<DisabledReason>,
}

/// How much a token has been used (flushed in batches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Last successful verification.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Successful verifications.
    pub use_count: i64,
}

/// A group's columns found half set: something Keyward never writes, so a
/// row holding it was edited by hand or is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialGroup {
    /// The column that is set.
    pub set: &'static str,
    /// The column it needs beside it.
    pub missing: &'static str,
}

impl std::fmt::Display for PartialGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "token has {} set without {}", self.set, self.missing)
    }
}

impl std::error::Error for PartialGroup {}

fn partial(set: &'static str, missing: &'static str) -> PartialGroup {
    PartialGroup { set, missing }
}

impl Revocation {
    /// The group from its columns `revoked_at` and `revoked_reason`.
    pub fn from_columns(
        at: Option<DateTime<Utc>>,
        reason: Option<RevokedReason>,
    ) -> Result<Option<Self>, PartialGroup> {
        match (at, reason) {
            (Some(at), reason) => Ok(Some(Revocation { at, reason })),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(partial("revoked_reason", "revoked_at")),
        }
    }
}

impl Disabling {
    /// The group from its columns `disabled_at` and `disabled_reason`.
    pub fn from_columns(
        at: Option<DateTime<Utc>>,
        reason: Option<DisabledReason>,
    ) -> Result<Option<Self>, PartialGroup> {
        match (at, reason) {
            (Some(at), reason) => Ok(Some(Disabling { at, reason })),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(partial("disabled_reason", "disabled_at")),
        }
    }
}

impl Replacement {
    /// The group from its columns `replaced_by`, `rotated_at` and
    /// `expires_at_before_rotation`, which a rotation sets in one write.
    pub fn from_columns(
        by: Option<String>,
        at: Option<DateTime<Utc>>,
        expires_at_before: Option<DateTime<Utc>>,
    ) -> Result<Option<Self>, PartialGroup> {
        match (by, at, expires_at_before) {
            (Some(by), Some(at), expires_at_before) => Ok(Some(Replacement { by, at, expires_at_before })),
            (None, None, None) => Ok(None),
            (Some(_), None, _) => Err(partial("replaced_by", "rotated_at")),
            (None, Some(_), _) => Err(partial("rotated_at", "replaced_by")),
            (None, None, Some(_)) => Err(partial("expires_at_before_rotation", "replaced_by")),
        }
    }
}

/// The groups read column by column, for the places that show or store
/// them flat (views, rows) and the judgements that ask one question.
impl TokenRecord {
    /// Whether it was revoked (final).
    #[inline]
    pub fn is_revoked(&self) -> bool {
        self.revocation.is_some()
    }

    /// When it was revoked, if it was.
    pub fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revocation.map(|revocation| revocation.at)
    }

    /// Why it was revoked, if it was and the reason is known.
    pub fn revoked_reason(&self) -> Option<RevokedReason> {
        self.revocation.and_then(|revocation| revocation.reason)
    }

    /// Whether it is disabled (until enabled again).
    #[inline]
    pub fn is_disabled(&self) -> bool {
        self.disabling.is_some()
    }

    /// When it was disabled, if it is.
    pub fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.disabling.map(|disabling| disabling.at)
    }

    /// Why it was disabled, if it is and the reason is known.
    pub fn disabled_reason(&self) -> Option<DisabledReason> {
        self.disabling.and_then(|disabling| disabling.reason)
    }

    /// Whether it was replaced by rotation.
    #[inline]
    pub fn is_replaced(&self) -> bool {
        self.replacement.is_some()
    }

    /// The token that replaced it by rotation, if one did.
    pub fn replaced_by(&self) -> Option<&str> {
        self.replacement.as_ref().map(|replacement| replacement.by.as_str())
    }

    /// When it was replaced by rotation, if it was.
    pub fn rotated_at(&self) -> Option<DateTime<Utc>> {
        self.replacement.as_ref().map(|replacement| replacement.at)
    }

    /// Its own expiry before a rotation's grace period shortened it.
    pub fn expires_at_before_rotation(&self) -> Option<DateTime<Utc>> {
        self.replacement.as_ref().and_then(|replacement| replacement.expires_at_before)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::record;
    use super::*;
    use crate::clock::micros_to_datetime;

    fn at(micros: i64) -> Option<DateTime<Utc>> {
        Some(micros_to_datetime(micros))
    }

    #[test]
    fn a_revocation_needs_its_time_but_not_its_reason() {
        let leaked = Some(RevokedReason::Leaked);
        assert_eq!(Revocation::from_columns(None, None), Ok(None));
        assert_eq!(
            Revocation::from_columns(at(5), leaked),
            Ok(Some(Revocation { at: micros_to_datetime(5), reason: leaked }))
        );
        assert_eq!(
            Revocation::from_columns(at(5), None),
            Ok(Some(Revocation { at: micros_to_datetime(5), reason: None })),
            "a missing reason is kept missing, not guessed"
        );
        let error = Revocation::from_columns(None, leaked).unwrap_err();
        assert_eq!(error.to_string(), "token has revoked_reason set without revoked_at");
    }

    #[test]
    fn a_disabling_needs_its_time_but_not_its_reason() {
        let idle = Some(DisabledReason::Inactivity);
        assert_eq!(Disabling::from_columns(None, None), Ok(None));
        assert_eq!(
            Disabling::from_columns(at(7), idle),
            Ok(Some(Disabling { at: micros_to_datetime(7), reason: idle }))
        );
        assert_eq!(
            Disabling::from_columns(at(7), None),
            Ok(Some(Disabling { at: micros_to_datetime(7), reason: None }))
        );
        assert_eq!(Disabling::from_columns(None, idle), Err(partial("disabled_reason", "disabled_at")));
    }

    #[test]
    fn a_replacement_needs_its_successor_and_its_time() {
        let by = || Some("tok_new".to_owned());
        assert_eq!(Replacement::from_columns(None, None, None), Ok(None));
        let whole = Replacement { by: "tok_new".into(), at: micros_to_datetime(3), expires_at_before: at(9) };
        assert_eq!(Replacement::from_columns(by(), at(3), at(9)), Ok(Some(whole)));
        assert!(Replacement::from_columns(by(), at(3), None).unwrap().is_some(), "rotated without a grace period");
        assert_eq!(Replacement::from_columns(by(), None, None), Err(partial("replaced_by", "rotated_at")));
        assert_eq!(Replacement::from_columns(None, at(3), None), Err(partial("rotated_at", "replaced_by")));
        assert_eq!(
            Replacement::from_columns(None, None, at(9)),
            Err(partial("expires_at_before_rotation", "replaced_by"))
        );
    }

    #[test]
    fn the_column_readers_answer_from_the_groups() {
        let mut token = record(None, None);
        assert!(!token.is_revoked() && !token.is_disabled() && !token.is_replaced());
        assert_eq!((token.revoked_at(), token.revoked_reason()), (None, None));
        assert_eq!((token.disabled_at(), token.disabled_reason()), (None, None));
        assert_eq!((token.replaced_by(), token.rotated_at(), token.expires_at_before_rotation()), (None, None, None));

        token.revocation = Some(Revocation { at: micros_to_datetime(1), reason: Some(RevokedReason::Policy) });
        token.disabling = Some(Disabling { at: micros_to_datetime(2), reason: None });
        token.replacement =
            Some(Replacement { by: "tok_b".into(), at: micros_to_datetime(3), expires_at_before: at(4) });
        assert!(token.is_revoked() && token.is_disabled() && token.is_replaced());
        assert_eq!((token.revoked_at(), token.revoked_reason()), (at(1), Some(RevokedReason::Policy)));
        assert_eq!((token.disabled_at(), token.disabled_reason()), (at(2), None));
        assert_eq!(
            (token.replaced_by(), token.rotated_at(), token.expires_at_before_rotation()),
            (Some("tok_b"), at(3), at(4))
        );
    }
}
