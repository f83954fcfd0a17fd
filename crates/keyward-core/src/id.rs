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
    /// The prefix every id of this kind starts with, like `tok_`.
    pub fn prefix(self) -> &'static str {
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

/// Text that is not an id of the kind asked for. Callers answer it as
/// "not found": a malformed id names nothing, like an unknown one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an id of this kind: expected `{}` and 22 base62 characters", .kind.prefix())]
pub struct IdShapeError {
    /// The kind of id that was expected.
    pub kind: IdKind,
}

/// An id of one kind, checked once where it enters (a path, a body) so the
/// code behind it need not ask again whether the text could name anything.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The kind of id this type holds.
            pub const KIND: IdKind = $kind;

            /// `text` as this id, if it has exactly the shape [`looks_like`] accepts.
            pub fn parse(text: &str) -> Result<Self, IdShapeError> {
                if looks_like(Self::KIND, text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(IdShapeError { kind: Self::KIND })
                }
            }

            /// A fresh random id of this kind.
            pub fn generate(rng: &dyn SecureRng) -> Result<Self, RngError> {
                new_id(Self::KIND, rng).map(Self)
            }

            /// The id as text, for the store and the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string, for records that still hold `String`s.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdShapeError;
            fn from_str(text: &str) -> Result<Self, IdShapeError> {
                Self::parse(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        // Deserializing checks the shape too: a typed id that skipped the
        // check would make every later one a guess.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// The id of a token (`tok_…`).
    TokenId,
    IdKind::Token
);
typed_id!(
    /// The id of a keyspace (`ks_…`).
    KeyspaceId,
    IdKind::Keyspace
);
typed_id!(
    /// The id of an organization (`org_…`).
    OrgId,
    IdKind::Organization
);
typed_id!(
    /// The id of a user, a person who signs in (`usr_…`).
    UserId,
    IdKind::User
);
typed_id!(
    /// The id of a service account (`sa_…`).
    ServiceAccountId,
    IdKind::ServiceAccount
);
typed_id!(
    /// The id of a webhook endpoint (`whk_…`).
    WebhookId,
    IdKind::Webhook
);
typed_id!(
    /// The id of an invitation (`inv_…`).
    InvitationId,
    IdKind::Invitation
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::OsRng;
    use proptest::prelude::*;

    const KINDS: [IdKind; 7] = [
        IdKind::Token,
        IdKind::Keyspace,
        IdKind::Organization,
        IdKind::User,
        IdKind::ServiceAccount,
        IdKind::Webhook,
        IdKind::Invitation,
    ];

    /// Whether the typed id of `kind` accepts `text`.
    fn typed_accepts(kind: IdKind, text: &str) -> bool {
        match kind {
            IdKind::Token => TokenId::parse(text).is_ok(),
            IdKind::Keyspace => KeyspaceId::parse(text).is_ok(),
            IdKind::Organization => OrgId::parse(text).is_ok(),
            IdKind::User => UserId::parse(text).is_ok(),
            IdKind::ServiceAccount => ServiceAccountId::parse(text).is_ok(),
            IdKind::Webhook => WebhookId::parse(text).is_ok(),
            IdKind::Invitation => InvitationId::parse(text).is_ok(),
            IdKind::Event | IdKind::Session => unreachable!("no typed id"),
        }
    }

    #[test]
    fn typed_ids_refuse_what_looks_like_refuses() {
        let generated = TokenId::generate(&OsRng).unwrap();
        assert!(generated.starts_with("tok_") && generated.len() == 26);
        assert_eq!(TokenId::parse(generated.as_str()).unwrap(), generated);
        assert_eq!(generated.to_string(), generated.as_str());
        for bad in ["tok_short", "not-an-id", "", "tok_", "ks_0000000000000000000000", "tok_000000000000000000000!"] {
            assert_eq!(TokenId::parse(bad), Err(IdShapeError { kind: IdKind::Token }), "{bad}");
        }
        assert!(KeyspaceId::parse("ks_0000000000000000000000").is_ok());
        assert!(KeyspaceId::parse(generated.as_str()).is_err());
    }

    #[test]
    fn serde_carries_the_string_and_checks_the_shape() {
        let id = WebhookId::generate(&OsRng).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<WebhookId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<WebhookId>("\"whk_short\"").is_err());
        assert!(serde_json::from_str::<WebhookId>("7").is_err());
    }

    proptest! {
        #[test]
        fn parse_agrees_with_looks_like(text in "\\PC{0,30}", kind in prop::sample::select(KINDS.to_vec())) {
            prop_assert_eq!(typed_accepts(kind, &text), looks_like(kind, &text));
        }

        // Arbitrary text almost never has the shape; these hit both sides.
        #[test]
        fn parse_agrees_near_the_shape(
            rest in "[0-9A-Za-z_!-]{20,24}",
            kind in prop::sample::select(KINDS.to_vec()),
            other in prop::sample::select(KINDS.to_vec()),
        ) {
            let text = format!("{}{rest}", other.prefix());
            prop_assert_eq!(typed_accepts(kind, &text), looks_like(kind, &text));
        }

        #[test]
        fn generated_ids_round_trip(seed in any::<u64>()) {
            let rng = crate::rng::SeededRng::new(seed);
            let id = InvitationId::generate(&rng).unwrap();
            prop_assert_eq!(InvitationId::parse(id.as_str()), Ok(id.clone()));
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<InvitationId>(&json).unwrap(), id);
            let token = TokenId::generate(&rng).unwrap();
            prop_assert_eq!(TokenId::parse(&token).unwrap(), token);
        }
    }

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
