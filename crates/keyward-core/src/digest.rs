//! What is stored instead of a token: its SHA-256.
//!
//! A token carries at least 190 bits from the OS CSPRNG, so a preimage search
//! against a stolen digest is infeasible and a keyed hash would add key
//! management (and a way to lose every token at once) without adding safety.
//! The digest is the lookup key itself, so a lookup is one index probe and no
//! stored secret is ever compared byte by byte in variable time.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of a token's full text.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// Digests the full token text (prefix, environment and body).
    #[inline]
    pub fn of(token_text: &str) -> Self {
        Self(Sha256::digest(token_text.as_bytes()).into())
    }

    /// Rebuilds a digest read back from storage.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw 32 bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality, for the rare place that compares digests
    /// outside an index lookup.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenDigest {
    // A digest is not a secret, but it is the lookup key of a live credential:
    // keep it out of logs too, showing only enough to tell two apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_of_the_full_text() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        let digest = TokenDigest::of("abc");
        assert_eq!(digest.as_bytes()[..4], [0xba, 0x78, 0x16, 0xbf], "first bytes of the FIPS 180-2 vector");
        assert!(digest.ct_eq(&TokenDigest::of("abc")));
        assert!(!digest.ct_eq(&TokenDigest::of("abd")));
        assert_eq!(TokenDigest::from_slice(digest.as_bytes()), Some(digest));
        assert_eq!(TokenDigest::from_slice(&[0u8; 31]), None);
        assert!(!format!("{digest:?}").contains("ba7816bf"));
    }
}
