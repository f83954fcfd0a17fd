//! Parsing `Authorization: Bearer <token>` (RFC 6750 §2.1, with the
//! auth-scheme compared case-insensitively as RFC 9110 §11.1 requires).
//! The input is untrusted bytes straight off the wire; this parser is fuzzed.

/// Why an Authorization header was refused. Carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    /// A scheme other than Bearer (Basic, Digest, …).
    #[error("the Authorization header must use the Bearer scheme")]
    Scheme,
    /// `Bearer` with nothing, or something malformed, after it.
    #[error("the Authorization header's bearer credential is missing or malformed")]
    Credential,
}

/// Extracts the credential from a Bearer Authorization header value.
///
/// RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`, where b64token is
/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// Surrounding whitespace is tolerated; anything inside the credential that
/// b64token forbids (spaces, commas, a second credential) is refused.
pub fn parse_bearer(value: &[u8]) -> Result<&str, AuthHeaderError> {
    let value = value.trim_ascii();
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(split) => (&value[..split], &value[split..]),
        None => (value, &value[value.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthHeaderError::Scheme);
    }
    let credential = rest.trim_ascii_start();
    if credential.is_empty() || !is_b64token(credential) {
        return Err(AuthHeaderError::Credential);
    }
    std::str::from_utf8(credential).map_err(|_| AuthHeaderError::Credential)
}

fn is_b64token(bytes: &[u8]) -> bool {
    let body_end = bytes.iter().rposition(|&b| b != b'=').map_or(0, |at| at + 1);
    body_end > 0
        && bytes[..body_end]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc", "  Bearer abc  "] {
            assert_eq!(parse_bearer(header.as_bytes()), Ok("abc"), "{header}");
        }
    }

    #[test]
    fn rejects_other_schemes_and_malformed_credentials() {
        assert_eq!(parse_bearer(b"Basic dXNlcjpwYXNz"), Err(AuthHeaderError::Scheme));
        assert_eq!(parse_bearer(b"Bearerabc"), Err(AuthHeaderError::Scheme));
        assert_eq!(parse_bearer(b""), Err(AuthHeaderError::Scheme));
        assert_eq!(parse_bearer(b"Bearer"), Err(AuthHeaderError::Credential));
        assert_eq!(parse_bearer(b"Bearer   "), Err(AuthHeaderError::Credential));
        assert_eq!(parse_bearer(b"Bearer a b"), Err(AuthHeaderError::Credential));
        assert_eq!(parse_bearer(b"Bearer a,Bearer b"), Err(AuthHeaderError::Credential));
        assert_eq!(parse_bearer(b"Bearer ==="), Err(AuthHeaderError::Credential));
        assert_eq!(parse_bearer("Bearer tök".as_bytes()), Err(AuthHeaderError::Credential));
        assert_eq!(parse_bearer(b"Bearer abc=="), Ok("abc=="));
    }

    proptest! {
        #[test]
        fn never_panics_and_only_returns_b64tokens(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(credential) = parse_bearer(&bytes) {
                prop_assert!(!credential.is_empty());
                prop_assert!(!credential.contains(' '));
            }
        }
    }
}
