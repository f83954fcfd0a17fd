//! Limits on what callers may store: names, owners and metadata are capped
//! so that no request can make a record, a cache entry or a log line large.

use serde_json::Value;

/// Longest name (keyspace or token), in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest owner id, in characters.
pub const MAX_OWNER_CHARS: usize = 200;
/// Largest metadata object, serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Longest lifetime a token may be given: 10 years, in seconds.
pub const MAX_TTL_SECONDS: i64 = 10 * 366 * 24 * 3600;

/// A value a caller supplied is out of bounds. `field` names it for the
/// problem response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// JSON name of the field.
    pub field: &'static str,
    /// What is wrong, safe to show.
    pub message: String,
}

impl InvalidField {
    /// An error about `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// A name: 1–200 characters after trimming, no control characters.
pub fn name(field: &'static str, text: &str) -> Result<String, InvalidField> {
    label(field, text, MAX_NAME_CHARS)
}

/// Longest scope description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// A description: 1–200 characters after trimming, no control characters.
pub fn description(field: &'static str, text: &str) -> Result<String, InvalidField> {
    label(field, text, MAX_DESCRIPTION_CHARS)
}

/// An owner id: same rules as a name.
pub fn owner(text: &str) -> Result<String, InvalidField> {
    label("owner", text, MAX_OWNER_CHARS)
}

fn label(field: &'static str, text: &str, max_chars: usize) -> Result<String, InvalidField> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(InvalidField::new(field, format!("must be at most {max_chars} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidField::new(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Metadata: a JSON object of at most 4 KiB serialized.
pub fn metadata(value: &Value) -> Result<(), InvalidField> {
    if !value.is_object() {
        return Err(InvalidField::new("metadata", "must be a JSON object"));
    }
    let size = serde_json::to_vec(value).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(InvalidField::new("metadata", format!("must be at most {MAX_METADATA_BYTES} bytes as JSON")));
    }
    Ok(())
}

/// A lifetime in seconds: positive and at most [`MAX_TTL_SECONDS`].
pub fn ttl_seconds(field: &'static str, seconds: i64) -> Result<(), InvalidField> {
    if seconds <= 0 {
        return Err(InvalidField::new(field, "must be a positive number of seconds"));
    }
    if seconds > MAX_TTL_SECONDS {
        return Err(InvalidField::new(field, format!("must be at most {MAX_TTL_SECONDS} seconds (10 years)")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  ci deploy ").unwrap(), "ci deploy");
        assert_eq!(name("name", "   ").unwrap_err().field, "name");
        assert!(name("name", &"x".repeat(201)).is_err());
        assert!(name("name", &"é".repeat(200)).is_ok());
        assert!(name("name", "a\nb").is_err());
        assert!(owner("user_1").is_ok());
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(metadata(&json!({"team": "billing"})).is_ok());
        assert!(metadata(&json!([1, 2])).is_err());
        assert!(metadata(&json!("x")).is_err());
        assert!(metadata(&json!({"blob": "x".repeat(5000)})).is_err());
    }

    #[test]
    fn ttls_are_positive_and_bounded() {
        assert!(ttl_seconds("expires_in", 1).is_ok());
        assert!(ttl_seconds("expires_in", 0).is_err());
        assert!(ttl_seconds("expires_in", -5).is_err());
        assert!(ttl_seconds("expires_in", MAX_TTL_SECONDS + 1).is_err());
    }
}
