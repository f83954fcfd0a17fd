//! IP allowlists: the networks a token may be used from.
//!
//! Entries are CIDRs (`203.0.113.0/24`, `2001:db8::/32`) or single
//! addresses (taken as `/32` or `/128`). An entry with host bits set
//! (`10.0.0.1/8`) is refused with the network it probably meant, rather
//! than silently widened or narrowed. An IPv4 client seen through an IPv6
//! socket (`::ffff:192.0.2.1`) is matched as the IPv4 address it is.

use std::net::IpAddr;

pub use ipnet::IpNet;

/// Most entries in one allowlist.
pub const MAX_ENTRIES: usize = 64;

/// Why an allowlist entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpListError {
    /// Neither a CIDR nor an address.
    #[error("`{0}` is not an IP address or CIDR (e.g. 203.0.113.0/24 or 2001:db8::/32)")]
    Syntax(String),
    /// Host bits set after the prefix.
    #[error("`{given}` has host bits set; did you mean {network}?")]
    HostBits {
        /// What was given.
        given: String,
        /// The network it names.
        network: String,
    },
    /// Too many entries.
    #[error("at most {MAX_ENTRIES} entries")]
    TooMany,
}

/// Parses one entry.
pub fn parse_entry(text: &str) -> Result<IpNet, IpListError> {
    let text = text.trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(canonical(address)));
    }
    // Only accept the strict `address/length` shape; anything else (spaces,
    // several slashes) is a syntax error, not something to guess at.
    let network: IpNet = text.parse().map_err(|_| IpListError::Syntax(text.to_owned()))?;
    if network.trunc() != network {
        return Err(IpListError::HostBits { given: text.to_owned(), network: network.trunc().to_string() });
    }
    Ok(network)
}

/// Parses a list: each entry, the count, duplicates removed, sorted.
pub fn parse_list<S: AsRef<str>>(entries: &[S]) -> Result<Vec<IpNet>, IpListError> {
    if entries.len() > MAX_ENTRIES {
        return Err(IpListError::TooMany);
    }
    let mut networks = entries.iter().map(|entry| parse_entry(entry.as_ref())).collect::<Result<Vec<_>, _>>()?;
    networks.sort();
    networks.dedup();
    Ok(networks)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `address` lies in any of `networks`.
pub fn allows(networks: &[IpNet], address: IpAddr) -> bool {
    let address = canonical(address);
    networks.iter().any(|network| network.contains(&address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn entries_parse_strictly() {
        assert_eq!(parse_entry("203.0.113.0/24").map(|n| n.to_string()), Ok("203.0.113.0/24".into()));
        assert_eq!(parse_entry(" 192.0.2.7 ").map(|n| n.to_string()), Ok("192.0.2.7/32".into()));
        assert_eq!(parse_entry("2001:db8::/32").map(|n| n.to_string()), Ok("2001:db8::/32".into()));
        assert_eq!(parse_entry("::ffff:192.0.2.7").map(|n| n.to_string()), Ok("192.0.2.7/32".into()));
        assert_eq!(
            parse_entry("10.0.0.1/8"),
            Err(IpListError::HostBits { given: "10.0.0.1/8".into(), network: "10.0.0.0/8".into() })
        );
        for bad in ["", "10.0.0.0/33", "10.0.0/8", "example.com", "10.0.0.0/8/8", "2001:db8::/129", "1.2.3.4 /8"] {
            assert!(matches!(parse_entry(bad), Err(IpListError::Syntax(_))), "{bad}");
        }
        assert_eq!(parse_list(&vec!["10.0.0.0/8"; MAX_ENTRIES + 1]), Err(IpListError::TooMany));
        assert_eq!(parse_list(&["10.0.0.0/8", "10.0.0.0/8"]).map(|l| l.len()), Ok(1));
    }

    #[test]
    fn membership_covers_both_families_and_mapped_addresses() {
        let list = parse_list(&["203.0.113.0/24", "2001:db8:1::/48"]).unwrap_or_default();
        assert!(allows(&list, ip("203.0.113.9")));
        assert!(allows(&list, ip("::ffff:203.0.113.9")), "IPv4 seen through an IPv6 socket");
        assert!(allows(&list, ip("2001:db8:1:ffff::1")));
        assert!(!allows(&list, ip("203.0.114.1")));
        assert!(!allows(&list, ip("2001:db8:2::1")));
        assert!(!allows(&[], ip("203.0.113.9")), "an empty list allows nothing; callers treat empty as unrestricted");
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepted_entries_round_trip(text in "\\PC{0,50}") {
            if let Ok(network) = parse_entry(&text) {
                prop_assert_eq!(parse_entry(&network.to_string()), Ok(network));
            }
        }

        #[test]
        fn a_v4_network_contains_exactly_its_addresses(a in any::<u32>(), b in any::<u32>(), len in 0u8..=32) {
            let network = IpNet::new(IpAddr::from(a.to_be_bytes()), len).map(|n| n.trunc());
            if let Ok(network) = network {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
                let inside = (a & mask) == (b & mask);
                prop_assert_eq!(allows(&[network], IpAddr::from(b.to_be_bytes())), inside);
            }
        }
    }
}
