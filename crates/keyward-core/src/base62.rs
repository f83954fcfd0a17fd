//! Base62 (`0-9A-Za-z`): the only alphabet a token body uses, so a token is
//! one "word" for double-click selection and needs no escaping anywhere.

/// The alphabet in ascending value order.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Width of an encoded CRC32: 62^6 > 2^32, so six digits always suffice.
pub const CHECKSUM_WIDTH: usize = 6;

/// The value of one base62 digit, or `None` for any other byte.
#[inline]
pub fn digit_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'Z' => Some(byte - b'A' + 10),
        b'a'..=b'z' => Some(byte - b'a' + 36),
        _ => None,
    }
}

/// Encodes a CRC32 as exactly six base62 digits, most significant first.
pub fn encode_checksum(mut value: u32) -> [u8; CHECKSUM_WIDTH] {
    let mut out = [b'0'; CHECKSUM_WIDTH];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// Decodes six base62 digits; `None` for a bad digit or a value above `u32::MAX`.
pub fn decode_checksum(digits: &[u8]) -> Option<u32> {
    if digits.len() != CHECKSUM_WIDTH {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in digits {
        value = value * 62 + u64::from(digit_value(byte)?);
    }
    u32::try_from(value).ok()
}

/// Encodes a 128-bit number as exactly 22 base62 digits (62^22 > 2^128).
pub fn encode_u128(mut value: u128) -> String {
    let mut out = [b'0'; 22];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_round_trips_at_the_edges() {
        for value in [0, 1, 61, 62, 3_843, u32::MAX - 1, u32::MAX] {
            assert_eq!(decode_checksum(&encode_checksum(value)), Some(value));
        }
        assert_eq!(&encode_checksum(0), b"000000");
        assert_eq!(&encode_checksum(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn checksum_decoding_rejects_overflow_and_foreign_bytes() {
        assert_eq!(decode_checksum(b"zzzzzz"), None);
        assert_eq!(decode_checksum(b"4gfFC4"), None);
        assert_eq!(decode_checksum(b"00000_"), None);
        assert_eq!(decode_checksum(b"00000"), None);
    }

    #[test]
    fn every_alphabet_byte_maps_back_to_its_position() {
        for (position, &byte) in ALPHABET.iter().enumerate() {
            assert_eq!(digit_value(byte), Some(position as u8));
        }
        assert_eq!(digit_value(b'_'), None);
        assert_eq!(digit_value(b'-'), None);
    }
}
