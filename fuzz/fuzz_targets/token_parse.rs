//! Fuzzes the token parser with arbitrary text: it must never panic, and
//! whatever it accepts must have the published shape and survive a re-parse.
#![no_main]

use keyward_core::ParsedToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parsed) = ParsedToken::parse(text) {
        assert!(text.len() <= keyward_core::token::MAX_TOKEN_LEN);
        assert!(text.is_ascii());
        assert_eq!(ParsedToken::parse(parsed.text()), Ok(parsed));
        assert_eq!(parsed.last4().len(), 4);
    }
});
