//! Fuzzes what a token list reads from its query string: the page cursor
//! and the order. Neither may panic; an accepted cursor re-encodes to one
//! that decodes to itself, and an accepted order prints back as it was given.
#![no_main]

use keyward_store::{Cursor, TokenOrder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(cursor) = Cursor::decode(text) {
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    }
    if let Some(order) = TokenOrder::parse(text) {
        assert_eq!(order.as_text(), text);
    }
});
