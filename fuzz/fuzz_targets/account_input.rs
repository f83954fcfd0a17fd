//! Fuzzes what people type at sign-up, sign-in and invitation: emails, role
//! names and passwords. Nothing may panic; an accepted email is already
//! normalized (validating it again returns it unchanged) and never carries
//! whitespace; an accepted role name round-trips; a password's error message
//! depends on its length only, so it never repeats the password. A lifetime
//! as a caller writes it (`expires_in: "30d"`) parses to a positive number
//! of seconds or to an error that does not repeat it.
#![no_main]

use keyward_core::role::Role;
use keyward_core::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(email) = validate::email(text) {
        assert_eq!(validate::email(&email).as_deref(), Ok(email.as_str()));
        assert!(!email.chars().any(char::is_whitespace) && email.contains('@'));
    }
    match validate::duration_seconds(text) {
        Ok(seconds) => assert!(seconds > 0),
        // One of a few fixed sentences: nothing of the input comes back.
        Err(message) => assert!(
            [
                "expected a whole number with a unit of s, m, h or d (e.g. 30d)",
                "expected a whole number followed by s, m, h or d (e.g. 30d)",
                "must be a positive duration",
            ]
            .contains(&message.as_str()),
            "{message}"
        ),
    }
    if let Ok(role) = text.parse::<Role>() {
        assert_eq!(role.as_str(), text);
    }
    if let Err(error) = validate::new_password(text) {
        // The message depends on the length alone, never on the text.
        let too_short = text.chars().count() < validate::MIN_PASSWORD_CHARS;
        let expected = if too_short {
            format!("must be at least {} characters", validate::MIN_PASSWORD_CHARS)
        } else {
            format!("must be at most {} characters", validate::MAX_PASSWORD_CHARS)
        };
        assert_eq!(error.message, expected);
    }
});
