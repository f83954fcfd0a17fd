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

/// Whether an allowlist is within another: every address `child` allows,
/// `parent` allows too. An empty list allows anywhere, so only an empty
/// parent holds an empty child. Each child network must lie inside one
/// parent network (a child network spanning two adjacent parent networks
/// counts as outside: allowlists are short, and a derived token names
/// networks its parent names or narrower ones).
pub fn within(child: &[IpNet], parent: &[IpNet]) -> bool {
    parent.is_empty() || (!child.is_empty() && outside(child, parent).is_none())
}

/// The first network of `child` not inside any network of `parent`
/// (both non-empty lists; `None` when every one is inside).
pub fn outside<'a>(child: &'a [IpNet], parent: &[IpNet]) -> Option<&'a IpNet> {
    child.iter().find(|network| !parent.iter().any(|wider| wider.contains(*network)))
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

    #[test]
    fn containment_of_allowlists() {
        let list = |entries: &[&str]| parse_list(entries).unwrap_or_default();
        let parent = list(&["127.0.0.1/32", "10.0.0.0/8"]);
        assert!(within(&list(&["127.0.0.1"]), &parent));
        assert!(within(&list(&["10.1.0.0/16", "10.2.3.4"]), &parent));
        assert!(!within(&list(&["10.0.0.0/7"]), &parent), "wider than the parent's network");
        assert!(!within(&list(&["192.0.2.0/24"]), &parent));
        assert!(!within(&[], &parent), "an empty list allows anywhere");
        assert!(within(&[], &[]));
        assert!(within(&list(&["2001:db8::/32"]), &[]), "an unrestricted parent holds anything");
        assert!(!within(&list(&["::ffff:0:0/96"]), &list(&["0.0.0.0/0"])), "families never contain each other");
        assert_eq!(
            outside(&list(&["10.0.0.1", "192.0.2.1"]), &parent).map(|n| n.to_string()),
            Some("192.0.2.1/32".into())
        );
    }

    fn v4_net() -> impl Strategy<Value = IpNet> {
        (any::<u32>(), 0u8..=32).prop_filter_map("valid prefix", |(bits, len)| {
            IpNet::new(IpAddr::from(bits.to_be_bytes()), len).ok().map(|n| n.trunc())
        })
    }

    proptest! {
        /// `within` agrees with its meaning: whenever the child list is
        /// within the parent, every address the child allows (sampled: each
        /// network's first and last address and one probe) the parent allows.
        #[test]
        fn within_means_every_child_address_is_allowed_by_the_parent(
            child in prop::collection::vec(v4_net(), 0..4),
            parent in prop::collection::vec(v4_net(), 0..4),
            probe in any::<u32>(),
        ) {
            if within(&child, &parent) && !parent.is_empty() {
                for network in &child {
                    let len = u32::from(network.prefix_len());
                    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                    let base = match network.network() { IpAddr::V4(v4) => u32::from(v4), IpAddr::V6(_) => 0 };
                    for address in [base, base | !mask, base | (probe & !mask)] {
                        prop_assert!(allows(&parent, IpAddr::from(address.to_be_bytes())));
                    }
                }
            }
            // A list is always within itself, and narrowing never leaves it.
            prop_assert!(within(&child, &child) || child.is_empty());
            if let Some(first) = parent.first() {
                let narrower: Vec<IpNet> = first.subnets(first.prefix_len().saturating_add(1).min(32)).map(|s| s.take(2).collect()).unwrap_or_default();
                prop_assert!(within(&narrower, &parent) || narrower.is_empty());
            }
        }
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
