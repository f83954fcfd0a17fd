//! Identifiers: a short type prefix and 128 random bits in base62, like
//! `tok_3Xr…`. Random rather than sequential, so an id reveals neither how
//! many tokens exist nor which id comes next.

use crate::base62;
use crate::rng::{RngError, SecureRng};

/// What an identifier names; its prefix makes a pasted id self-describing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A token.
    Token,
    /// A keyspace.
    Keyspace,
    /// An audit event.
    Event,
    /// An organization.
    Organization,
    /// A user (a person who signs in).
    User,
    /// A service account (a non-human principal of an organization).
    ServiceAccount,
    /// An invitation to join an organization.
    Invitation,
    /// A signed-in session.
    Session,
    /// A webhook endpoint.
    Webhook,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Token => "tok_",
            IdKind::Keyspace => "ks_",
            IdKind::Event => "evt_",
            IdKind::Organization => "org_",
            IdKind::User => "usr_",
            IdKind::ServiceAccount => "sa_",
            IdKind::Invitation => "inv_",
            IdKind::Session => "ses_",
            IdKind::Webhook => "whk_",
        }
    }
}

/// A fresh random identifier of `kind`.
pub fn new_id(kind: IdKind, rng: &dyn SecureRng) -> Result<String, RngError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    Ok(format!("{}{}", kind.prefix(), base62::encode_u128(u128::from_le_bytes(bytes))))
}

/// Whether `text` could be an identifier of `kind` (cheap syntax check, so
/// obviously foreign ids are answered 404 without a query).
pub fn looks_like(kind: IdKind, text: &str) -> bool {
    text.strip_prefix(kind.prefix())
        .is_some_and(|rest| rest.len() == 22 && rest.bytes().all(|b| base62::digit_value(b).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::OsRng;

    #[test]
    fn ids_carry_their_kind_and_are_distinct() {
        let a = new_id(IdKind::Token, &OsRng).unwrap();
        let b = new_id(IdKind::Token, &OsRng).unwrap();
        assert!(a.starts_with("tok_") && a.len() == 26);
        assert_ne!(a, b);
        assert!(looks_like(IdKind::Token, &a));
        assert!(!looks_like(IdKind::Keyspace, &a));
        assert!(!looks_like(IdKind::Token, "tok_short"));
        assert!(looks_like(IdKind::Event, &new_id(IdKind::Event, &OsRng).unwrap()));
    }
}
