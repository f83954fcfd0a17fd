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

/// Longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// An email address, trimmed and lowercased: one `@`, a non-empty local
/// part, a dotted domain, no spaces or control characters. Deliverability
/// is the invitation's job; this only refuses what cannot be an address.
pub fn email(text: &str) -> Result<String, InvalidField> {
    let address = text.trim().to_lowercase();
    let invalid = |why: &str| Err(InvalidField::new("email", why.to_owned()));
    if address.is_empty() {
        return invalid("must not be empty");
    }
    if address.chars().count() > MAX_EMAIL_CHARS {
        return invalid("must be at most 254 characters");
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain spaces or control characters");
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return invalid("must look like name@example.com");
    };
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && !label.contains(['@', '"', ',', ';', '<', '>', '(', ')', '[', ']', '\\'])
        });
    if local.is_empty() || local.len() > 64 || local.contains('@') || !labels_ok {
        return invalid("must look like name@example.com");
    }
    Ok(address)
}

/// Shortest password accepted (OWASP ASVS 2.1.1 asks for at least 12).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted: long passphrases welcome, unbounded input is not.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A new password: 12 to 256 characters, any characters (no composition
/// rules, per NIST SP 800-63B). The message never repeats the password.
pub fn new_password(text: &str) -> Result<(), InvalidField> {
    let length = text.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(InvalidField::new("password", format!("must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(InvalidField::new("password", format!("must be at most {MAX_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

/// Metadata: a JSON object of at most 4 KiB serialized.
pub fn metadata(value: &Value) -> Result<(), InvalidField> {
    if !value.is_object() {
        return Err(InvalidField::new("metadata", "must be a JSON object"));
    }
    if holds_nul(value) {
        return Err(InvalidField::new("metadata", "must not contain the NUL character (\\u0000)"));
    }
    let size = serde_json::to_vec(value).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(InvalidField::new("metadata", format!("must be at most {MAX_METADATA_BYTES} bytes as JSON")));
    }
    Ok(())
}

/// Whether a NUL is in any string or key of `value`. PostgreSQL's text and
/// jsonb cannot hold one; refusing it here makes both stores answer alike.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(key, item)| key.contains('\0') || holds_nul(item)),
        _ => false,
    }
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

/// Lifetimes offered as presets wherever a person picks an expiry: a
/// week, a month, two months, a quarter, a year. Each is also accepted as
/// its duration text (`"30d"`) wherever a lifetime is asked for.
pub const EXPIRY_PRESETS: &[(&str, i64)] =
    &[("7d", 7 * 86_400), ("30d", 30 * 86_400), ("60d", 60 * 86_400), ("90d", 90 * 86_400), ("365d", 365 * 86_400)];

/// A duration as people write it: `3600` (seconds), `90s`, `15m`, `12h`,
/// `30d`. Positive; the answer is in seconds.
pub fn duration_seconds(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        // The text is not echoed: it may be anything a caller sent.
        _ => return Err("expected a whole number with a unit of s, m, h or d (e.g. 30d)".to_owned()),
    };
    let value: i64 =
        number.parse().map_err(|_| "expected a whole number followed by s, m, h or d (e.g. 30d)".to_owned())?;
    value.checked_mul(multiplier).filter(|seconds| *seconds > 0).ok_or_else(|| "must be a positive duration".to_owned())
}

/// A period counted in days (rotation, inactivity): 1 to
/// [`MAX_LIFECYCLE_DAYS`](crate::policy::MAX_LIFECYCLE_DAYS).
pub fn lifecycle_days(field: &'static str, days: u32) -> Result<u32, InvalidField> {
    let max = crate::policy::MAX_LIFECYCLE_DAYS;
    if !(1..=max).contains(&days) {
        return Err(InvalidField::new(field, format!("must be between 1 and {max} days")));
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them_and_presets_are_durations() {
        assert_eq!(duration_seconds("3600"), Ok(3600));
        assert_eq!(duration_seconds("90s"), Ok(90));
        assert_eq!(duration_seconds("15m"), Ok(900));
        assert_eq!(duration_seconds("12h"), Ok(43_200));
        assert_eq!(duration_seconds("30d"), Ok(2_592_000));
        for bad in ["", "0", "0d", "-5m", "5w", "soon", "1.5h", "99999999999999999999d"] {
            assert!(duration_seconds(bad).is_err(), "{bad}");
        }
        for (label, seconds) in EXPIRY_PRESETS {
            assert_eq!(duration_seconds(label), Ok(*seconds));
            assert!(ttl_seconds("expires_in", *seconds).is_ok());
        }
    }
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
    fn emails_are_normalized_and_malformed_ones_refused() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        assert_eq!(email("a.b+tag@sub.example.org").unwrap(), "a.b+tag@sub.example.org");
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "ada @example.com", "ada@-x.com", "ada@x..com"] {
            assert_eq!(email(bad).unwrap_err().field, "email", "{bad:?}");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn passwords_are_bounded_by_length_only() {
        assert!(new_password("correct horse").is_ok());
        assert!(new_password("short").is_err());
        assert!(new_password(&"x".repeat(257)).is_err());
        assert!(!new_password("tiny secret").unwrap_err().message.contains("tiny"));
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(metadata(&json!({"team": "billing"})).is_ok());
        assert!(metadata(&json!([1, 2])).is_err());
        assert!(metadata(&json!("x")).is_err());
        assert!(metadata(&json!({"blob": "x".repeat(5000)})).is_err());
        assert!(metadata(&json!({"note": "a\u{0}b"})).is_err(), "PostgreSQL cannot store a NUL");
        assert!(metadata(&json!({"a\u{0}": 1})).is_err());
        assert!(metadata(&json!({"list": [{"deep": "\u{0}"}]})).is_err());
    }

    #[test]
    fn ttls_are_positive_and_bounded() {
        assert!(ttl_seconds("expires_in", 1).is_ok());
        assert!(ttl_seconds("expires_in", 0).is_err());
        assert!(ttl_seconds("expires_in", -5).is_err());
        assert!(ttl_seconds("expires_in", MAX_TTL_SECONDS + 1).is_err());
    }
}
