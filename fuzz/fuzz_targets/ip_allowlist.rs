//! Fuzzes the IP allowlist entry parser with arbitrary text: it must never
//! panic, and an accepted entry must be a network that re-parses to itself
//! and contains its own address.
#![no_main]

use keyward_core::ip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(network) = ip::parse_entry(text) {
        assert_eq!(ip::parse_entry(&network.to_string()), Ok(network));
        assert!(ip::allows(&[network], network.addr()));
    }
});
