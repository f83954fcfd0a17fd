//! Webhook inputs from outside: a `Keyward-Signature` header as a receiver
//! parses it, and an endpoint URL as a caller registers it. Neither may
//! panic, and whatever URL is accepted must be accepted again unchanged.
#![no_main]

use keyward_core::webhook::{validate_url, verify, ParsedSignature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ParsedSignature::parse(text);
    let _ = verify("whsec_fuzz", text, data, 1_700_000_000, 300);
    if let Ok(normalized) = validate_url(text) {
        assert_eq!(validate_url(&normalized).as_deref(), Ok(normalized.as_str()));
    }
});
