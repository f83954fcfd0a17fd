//! A token secret as a type that cannot be printed by accident: `Debug` and
//! `Display` are redacted, and the bytes are zeroed when dropped. The only way
//! to the text is the explicit [`SecretToken::expose`].

use std::fmt;

use zeroize::Zeroizing;

/// The full text of a token, shown once to its owner and never again.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(Zeroizing<String>);

impl SecretToken {
    /// Wraps token text.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The token text. Call only where the secret is meant to leave:
    /// the creation response, the shown-once terminal line, a 0600 file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let secret = SecretToken::new("kw_live_supersecret".into());
        assert!(!format!("{secret:?}").contains("supersecret"));
        assert!(!format!("{secret}").contains("supersecret"));
        assert_eq!(secret.expose(), "kw_live_supersecret");
    }
}
