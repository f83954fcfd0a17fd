//! The token format: `<prefix>_<env>_<body>`, specified in `docs/token-format.md`.
//!
//! * `prefix`: 2–12 characters `[a-z][a-z0-9]*` (`kw` by default, or a
//!   keyspace's own), so a scanner can tell whose token it found.
//! * `env`: `live` or `test`, so a human can tell at a glance.
//! * `body`: 32 base62 characters drawn uniformly from the OS CSPRNG
//!   (32 × log2 62 ≈ 190.5 bits), then 6 base62 characters of CRC32 over
//!   everything before them (`<prefix>_<env>_<random>`).
//!
//! The checksum lets anyone reject a mistyped or invented token offline and
//! lets the server drop garbage before touching a cache or a store. It is
//! not a secret and not an authenticator: the digest lookup is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::base62::{self, CHECKSUM_WIDTH};
use crate::rng::{RngError, SecureRng};
use crate::secret::SecretToken;

/// Random base62 characters in a body.
pub const RANDOM_LEN: usize = 32;
/// Total body length: random part plus checksum.
pub const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_WIDTH;
/// Bounds of a prefix's length.
pub const PREFIX_MIN_LEN: usize = 2;
/// Bounds of a prefix's length.
pub const PREFIX_MAX_LEN: usize = 12;
/// The longest well-formed token; anything longer is rejected unread.
pub const MAX_TOKEN_LEN: usize = PREFIX_MAX_LEN + 1 + 4 + 1 + BODY_LEN;
/// The default prefix.
pub const DEFAULT_PREFIX: &str = "kw";
/// One regular expression that matches every Keyward token (and is used by
/// leak scanners); see `docs/token-format.md`.
pub const TOKEN_REGEX: &str = r"\b[a-z][a-z0-9]{1,11}_(?:live|test)_[0-9A-Za-z]{38}\b";

/// A keyspace's environment. Test tokens are never valid against live data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production traffic.
    Live,
    /// Development and CI.
    Test,
}

impl Environment {
    /// The lowercase name used in tokens, storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = TokenFormatError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "live" => Ok(Environment::Live),
            "test" => Ok(Environment::Test),
            _ => Err(TokenFormatError::Environment),
        }
    }
}

/// A validated token prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenPrefix(String);

impl TokenPrefix {
    /// Validates a prefix: 2–12 characters, a lowercase letter then lowercase
    /// letters or digits (no `_`, which separates the parts).
    pub fn new(text: &str) -> Result<Self, TokenFormatError> {
        if is_valid_prefix(text.as_bytes()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(TokenFormatError::Prefix)
        }
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TokenPrefix {
    fn default() -> Self {
        Self(DEFAULT_PREFIX.to_owned())
    }
}

impl TryFrom<String> for TokenPrefix {
    type Error = TokenFormatError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::new(&text)
    }
}

impl From<TokenPrefix> for String {
    fn from(prefix: TokenPrefix) -> Self {
        prefix.0
    }
}

impl fmt::Display for TokenPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid_prefix(bytes: &[u8]) -> bool {
    (PREFIX_MIN_LEN..=PREFIX_MAX_LEN).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Why a string is not a well-formed token. Deliberately coarse and free of
/// any part of the input, so it is safe to log and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// Too long, too short, or missing its `_` separators.
    #[error("the token does not have the shape <prefix>_<live|test>_<38 base62 characters>")]
    Shape,
    /// The prefix is not 2–12 lowercase letters and digits starting with a letter.
    #[error("the token prefix must be 2-12 lowercase letters or digits, starting with a letter")]
    Prefix,
    /// The environment is neither `live` nor `test`.
    #[error("the token environment must be `live` or `test`")]
    Environment,
    /// A body character is outside base62.
    #[error("the token body must be base62 (0-9, A-Z, a-z)")]
    Alphabet,
    /// The checksum does not match: a typo, a truncation, or an invented token.
    #[error("the token checksum does not match")]
    Checksum,
}

/// A token that passed the offline checks (shape and checksum). It may still
/// be unknown, expired or revoked: only the store can say.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    text: &'a str,
    prefix_len: usize,
    environment: Environment,
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("prefix", &self.prefix())
            .field("environment", &self.environment)
            .field("body", &"<redacted>")
            .finish()
    }
}

impl<'a> ParsedToken<'a> {
    /// Checks shape and checksum without allocating. Cost is one pass over at
    /// most [`MAX_TOKEN_LEN`] bytes and one CRC32: garbage is cheap to refuse.
    pub fn parse(text: &'a str) -> Result<Self, TokenFormatError> {
        let bytes = text.as_bytes();
        if bytes.len() > MAX_TOKEN_LEN || bytes.len() < PREFIX_MIN_LEN + 6 + BODY_LEN {
            return Err(TokenFormatError::Shape);
        }
        let prefix_len = bytes.iter().position(|&b| b == b'_').ok_or(TokenFormatError::Shape)?;
        if !is_valid_prefix(&bytes[..prefix_len]) {
            return Err(TokenFormatError::Prefix);
        }
        let rest = &bytes[prefix_len + 1..];
        if rest.len() != 5 + BODY_LEN || rest[4] != b'_' {
            return Err(TokenFormatError::Shape);
        }
        let environment = match &rest[..4] {
            b"live" => Environment::Live,
            b"test" => Environment::Test,
            _ => return Err(TokenFormatError::Environment),
        };
        let body = &rest[5..];
        // The base62 alphabet is exactly the ASCII letters and digits; this
        // form of the test compiles to a vectorised loop.
        if !body.iter().all(u8::is_ascii_alphanumeric) {
            return Err(TokenFormatError::Alphabet);
        }
        let checked_len = bytes.len() - CHECKSUM_WIDTH;
        let claimed = base62::decode_checksum(&bytes[checked_len..]).ok_or(TokenFormatError::Checksum)?;
        if crc32fast::hash(&bytes[..checked_len]) != claimed {
            return Err(TokenFormatError::Checksum);
        }
        Ok(Self { text, prefix_len, environment })
    }

    /// The prefix, e.g. `kw`.
    pub fn prefix(&self) -> &'a str {
        &self.text[..self.prefix_len]
    }

    /// The environment part.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The whole token text, for digesting.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The last four characters, shown in masks.
    pub fn last4(&self) -> &'a str {
        &self.text[self.text.len() - 4..]
    }
}

/// Generates a new token from `rng` (see [`push_random_base62`]).
pub fn generate(prefix: &TokenPrefix, environment: Environment, rng: &dyn SecureRng) -> Result<SecretToken, RngError> {
    let mut text = String::with_capacity(MAX_TOKEN_LEN);
    text.push_str(prefix.as_str());
    text.push('_');
    text.push_str(environment.as_str());
    text.push('_');
    push_random_base62(&mut text, RANDOM_LEN, rng)?;
    let checksum = base62::encode_checksum(crc32fast::hash(text.as_bytes()));
    text.extend(checksum.iter().map(|&b| char::from(b)));
    Ok(SecretToken::new(text))
}

/// Appends `count` base62 characters from `rng`, each drawn by rejection
/// sampling (bytes ≥ 248 are discarded) so every digit is exactly equally likely.
pub fn push_random_base62(text: &mut String, count: usize, rng: &dyn SecureRng) -> Result<(), RngError> {
    let mut produced = 0;
    let mut pool = zeroize::Zeroizing::new([0u8; 64]);
    while produced < count {
        rng.fill(&mut pool[..])?;
        for &byte in pool.iter() {
            if byte < 248 && produced < count {
                text.push(char::from(base62::ALPHABET[usize::from(byte % 62)]));
                produced += 1;
            }
        }
    }
    Ok(())
}

/// How a token is shown anywhere but its creation response:
/// `<prefix>_<env>_…<last 4>`.
pub fn mask(prefix: &str, environment: Environment, last4: &str) -> String {
    format!("{prefix}_{environment}_…{last4}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use proptest::prelude::*;

    fn token_from_seed(seed: u64, prefix: &str, environment: Environment) -> String {
        let prefix = TokenPrefix::new(prefix).unwrap();
        generate(&prefix, environment, &SeededRng::new(seed)).unwrap().expose().to_owned()
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let token = token_from_seed(1, "kw", Environment::Live);
        assert!(token.starts_with("kw_live_"));
        assert_eq!(token.len(), 8 + BODY_LEN);
        let parsed = ParsedToken::parse(&token).unwrap();
        assert_eq!(parsed.prefix(), "kw");
        assert_eq!(parsed.environment(), Environment::Live);
        assert_eq!(parsed.last4(), &token[token.len() - 4..]);
    }

    /// The vectors published in docs/token-format.md: `seed prefix env token`.
    fn spec_vectors() -> Vec<(u64, String, Environment, String)> {
        include_str!("test_vectors.txt")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let parts: Vec<&str> = line.split_whitespace().collect();
                (parts[0].parse().unwrap(), parts[1].to_owned(), parts[2].parse().unwrap(), parts[3].to_owned())
            })
            .collect()
    }

    #[test]
    fn spec_vectors_parse_and_are_what_the_seeded_generator_produces() {
        let vectors = spec_vectors();
        assert_eq!(vectors.len(), 3);
        for (seed, prefix, environment, token) in vectors {
            let parsed = ParsedToken::parse(&token).unwrap();
            assert_eq!((parsed.prefix(), parsed.environment()), (prefix.as_str(), environment));
            assert_eq!(token_from_seed(seed, &prefix, environment), token);
        }
    }

    #[test]
    fn rejections_name_the_right_reason() {
        let good = token_from_seed(9, "kw", Environment::Test);
        assert_eq!(ParsedToken::parse(""), Err(TokenFormatError::Shape));
        assert_eq!(ParsedToken::parse(&good[..good.len() - 1]), Err(TokenFormatError::Shape));
        assert_eq!(ParsedToken::parse(&format!("{good}x")), Err(TokenFormatError::Shape));
        assert_eq!(ParsedToken::parse(&good.replacen("kw_", "KW_", 1)), Err(TokenFormatError::Prefix));
        assert_eq!(ParsedToken::parse(&good.replacen("_test_", "_prod_", 1)), Err(TokenFormatError::Environment));
        let mut bad_alphabet = good.clone().into_bytes();
        bad_alphabet[10] = b'-';
        assert_eq!(ParsedToken::parse(std::str::from_utf8(&bad_alphabet).unwrap()), Err(TokenFormatError::Alphabet));
        // The checksum covers the environment: a test token relabelled live fails.
        assert_eq!(ParsedToken::parse(&good.replacen("_test_", "_live_", 1)), Err(TokenFormatError::Checksum));
    }

    #[test]
    fn prefixes_are_validated() {
        for good in ["kw", "pay", "a1", "abcdefghijkl"] {
            assert!(TokenPrefix::new(good).is_ok(), "{good}");
        }
        for bad in ["", "k", "1kw", "Kw", "k_w", "abcdefghijklm", "kw-x", "ü1"] {
            assert!(TokenPrefix::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_of_a_parsed_token_hides_the_body() {
        let token = token_from_seed(4, "kw", Environment::Live);
        let parsed = ParsedToken::parse(&token).unwrap();
        assert!(!format!("{parsed:?}").contains(&token[8..20]));
    }

    #[test]
    fn mask_shows_prefix_environment_and_last_four() {
        assert_eq!(mask("kw", Environment::Live, "AbC1"), "kw_live_…AbC1");
    }

    fn arbitrary_prefix() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9]{1,11}"
    }

    fn arbitrary_environment() -> impl Strategy<Value = Environment> {
        prop_oneof![Just(Environment::Live), Just(Environment::Test)]
    }

    proptest! {
        #[test]
        fn every_generated_token_parses(seed in any::<u64>(), prefix in arbitrary_prefix(), environment in arbitrary_environment()) {
            let token = token_from_seed(seed, &prefix, environment);
            let parsed = ParsedToken::parse(&token).unwrap();
            prop_assert_eq!(parsed.prefix(), prefix.as_str());
            prop_assert_eq!(parsed.environment(), environment);
            prop_assert!(token.len() <= MAX_TOKEN_LEN);
        }

        #[test]
        fn any_single_character_change_is_rejected(
            seed in any::<u64>(),
            prefix in arbitrary_prefix(),
            environment in arbitrary_environment(),
            position in any::<prop::sample::Index>(),
            replacement in prop::sample::select(base62::ALPHABET.to_vec()),
        ) {
            let token = token_from_seed(seed, &prefix, environment);
            let mut bytes = token.clone().into_bytes();
            let at = position.index(bytes.len());
            prop_assume!(bytes[at] != replacement && bytes[at] != b'_');
            bytes[at] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(ParsedToken::parse(&changed).is_err(), "accepted {} changed at {}", changed, at);
        }

        #[test]
        fn parse_never_panics(text in ".{0,80}") {
            let _ = ParsedToken::parse(&text);
        }

        #[test]
        fn everything_that_parses_matches_the_published_shape(text in "[a-z][a-z0-9]{1,11}_(live|test)_[0-9A-Za-z]{38}") {
            // Random strings of the right shape almost never carry a valid
            // checksum; when one does, it must agree with the parser's view.
            if let Ok(parsed) = ParsedToken::parse(&text) {
                prop_assert_eq!(parsed.text(), text.as_str());
            }
        }
    }
}
