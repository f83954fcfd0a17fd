//! Fuzzes the Authorization header parser with raw header bytes: it must
//! never panic, and an accepted credential is a non-empty RFC 6750 b64token.
#![no_main]

use keyward_core::auth_header::parse_bearer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(credential) = parse_bearer(data) {
        assert!(!credential.is_empty());
        assert!(credential.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)));
    }
});
