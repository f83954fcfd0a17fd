//! Where outbound requests (webhook deliveries) may go. An organization's
//! admin chooses a webhook's URL, and the server makes the request from
//! inside the operator's network: without a rule, a URL naming
//! `127.0.0.1:5432`, `10.0.0.7` or `169.254.169.254` (cloud metadata) would
//! turn deliveries, and the delivery log's statuses and timings, into a
//! probe of that network.
//!
//! [`classify`] answers which rule refuses an address: loopback, private,
//! shared (CGNAT), link-local, unique-local, unspecified, multicast,
//! broadcast, reserved, documentation and benchmarking ranges, also when
//! they hide inside an IPv6 address (IPv4-mapped `::ffff:a.b.c.d`,
//! IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
//! Every IPv6 address outside global unicast (`2000::/3`) is refused too.
//! [`EgressPolicy`] adds the operator's exceptions
//! (`webhook_allowed_networks`). Pure: resolving names and connecting only
//! to checked addresses is the caller's part.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::ip::{self, IpListError};

/// The setting that opens refused networks to webhook deliveries.
pub const SETTING: &str = "webhook_allowed_networks";
/// The same, as an environment variable.
pub const SETTING_ENV: &str = "KEYWARD_WEBHOOK_ALLOWED_NETWORKS";
/// How an operator opens a refused destination, when the address is not
/// to be shown.
pub const REMEDY: &str =
    "an operator can allow such destinations with the webhook_allowed_networks setting (KEYWARD_WEBHOOK_ALLOWED_NETWORKS)";

/// Why an address is not an acceptable destination by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `0.0.0.0/8`, `::`: "this host/network", which reaches the local host.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), the local-use NAT64
    /// prefix and deprecated IPv6 site-local addresses.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT's shared address space.
    Shared,
    /// `169.254.0.0/16` (where cloud metadata services answer), `fe80::/10`.
    LinkLocal,
    /// `fc00::/7` (`fd00::/8` included).
    UniqueLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4`, IETF protocol assignments, and IPv6 outside global
    /// unicast or set aside for protocols.
    Reserved,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
}

impl Rule {
    /// A stable name, for delivery logs and problem details.
    pub fn code(self) -> &'static str {
        match self {
            Rule::Unspecified => "unspecified",
            Rule::Loopback => "loopback",
            Rule::Private => "private",
            Rule::Shared => "shared",
            Rule::LinkLocal => "link_local",
            Rule::UniqueLocal => "unique_local",
            Rule::Multicast => "multicast",
            Rule::Broadcast => "broadcast",
            Rule::Reserved => "reserved",
            Rule::Documentation => "documentation",
            Rule::Benchmarking => "benchmarking",
        }
    }

    /// The rule in words, after "a" or "an".
    fn words(self) -> &'static str {
        match self {
            Rule::Unspecified => "an unspecified (\"this network\") address",
            Rule::Loopback => "a loopback address",
            Rule::Private => "a private-network address",
            Rule::Shared => "a shared (carrier-grade NAT) address",
            Rule::LinkLocal => "a link-local address",
            Rule::UniqueLocal => "a unique-local address",
            Rule::Multicast => "a multicast address",
            Rule::Broadcast => "the broadcast address",
            Rule::Reserved => "a reserved address",
            Rule::Documentation => "a documentation address",
            Rule::Benchmarking => "a benchmarking address",
        }
    }
}

/// How an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:a.b.c.d`: the IPv4 address itself, seen through IPv6.
    Ipv4Mapped,
    /// `::a.b.c.d` (deprecated).
    Ipv4Compatible,
    /// `64:ff9b::a.b.c.d`, translated by a NAT64 gateway.
    Nat64,
    /// `2002:aabb:ccdd::/48`, relayed to `a.b.c.d` by 6to4.
    SixToFour,
}

impl Embedding {
    fn words(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "IPv4-mapped",
            Embedding::Ipv4Compatible => "IPv4-compatible",
            Embedding::Nat64 => "NAT64",
            Embedding::SixToFour => "6to4",
        }
    }
}

/// An address refused, and by which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address checked.
    pub address: IpAddr,
    /// The rule that refuses it.
    pub rule: Rule,
    /// The refused range it lies in (of the embedded IPv4 address, if any).
    pub range: IpNet,
    /// The IPv4 address inside `address` that the rule refused, and how it is carried.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

impl Refusal {
    /// What was refused without the address itself: for a delivery log
    /// read by an organization's admin, who should not learn what a
    /// private name resolves to.
    pub fn kind(&self) -> String {
        match self.embedded {
            Some((embedding, _)) => {
                format!("an {} address embedding {} ({})", embedding.words(), self.rule.words(), self.range)
            }
            None => format!("{} ({})", self.rule.words(), self.range),
        }
    }

    /// How an operator lets this destination through: the narrowest
    /// network to open, and the range it lies in.
    pub fn remedy(&self) -> String {
        let judged = self.embedded.map_or(self.address, |(_, inner)| IpAddr::V4(inner));
        format!(
            "an operator can allow it by adding {} (or a wider network within {}) to the {SETTING} setting ({SETTING_ENV})",
            IpNet::from(judged),
            self.range
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            Some((embedding, v4)) => write!(
                f,
                "{} is an {} address embedding {v4}, {} ({})",
                self.address,
                embedding.words(),
                self.rule.words(),
                self.range
            ),
            None => write!(f, "{} is {} ({})", self.address, self.rule.words(), self.range),
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// IPv4 ranges refused by default, most specific first where they nest.
const V4_RULES: &[(Ipv4Net, Rule)] = &[
    (v4(0, 0, 0, 0, 8), Rule::Unspecified),
    (v4(10, 0, 0, 0, 8), Rule::Private),
    (v4(100, 64, 0, 0, 10), Rule::Shared),
    (v4(127, 0, 0, 0, 8), Rule::Loopback),
    (v4(169, 254, 0, 0, 16), Rule::LinkLocal),
    (v4(172, 16, 0, 0, 12), Rule::Private),
    (v4(192, 0, 0, 0, 24), Rule::Reserved),
    (v4(192, 0, 2, 0, 24), Rule::Documentation),
    (v4(192, 88, 99, 0, 24), Rule::Reserved),
    (v4(192, 168, 0, 0, 16), Rule::Private),
    (v4(198, 18, 0, 0, 15), Rule::Benchmarking),
    (v4(198, 51, 100, 0, 24), Rule::Documentation),
    (v4(203, 0, 113, 0, 24), Rule::Documentation),
    (v4(224, 0, 0, 0, 4), Rule::Multicast),
    (v4(255, 255, 255, 255, 32), Rule::Broadcast),
    (v4(240, 0, 0, 0, 4), Rule::Reserved),
];

/// IPv6 ranges refused by default (those embedding IPv4 are handled
/// first), most specific first where they nest.
const V6_RULES: &[(Ipv6Net, Rule)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), Rule::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Rule::Loopback),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), Rule::Private),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), Rule::Reserved),
    (v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), Rule::Benchmarking),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), Rule::Reserved),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), Rule::Documentation),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), Rule::Documentation),
    (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), Rule::Reserved),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), Rule::UniqueLocal),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), Rule::LinkLocal),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Rule::Private),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Rule::Multicast),
];

const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);
const IPV4_COMPATIBLE: Ipv6Net = v6([0, 0, 0, 0, 0, 0, 0, 0], 96);
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

fn classify_v4(address: Ipv4Addr) -> Option<(Rule, IpNet)> {
    V4_RULES.iter().find(|(net, _)| net.contains(&address)).map(|(net, rule)| (*rule, IpNet::V4(*net)))
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms
/// that reach it.
pub fn embedded_ipv4(address: Ipv6Addr) -> Option<(Embedding, Ipv4Addr)> {
    let octets = address.octets();
    let last = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    if let Some(mapped) = address.to_ipv4_mapped() {
        Some((Embedding::Ipv4Mapped, mapped))
    } else if IPV4_COMPATIBLE.contains(&address) && address != Ipv6Addr::UNSPECIFIED && address != Ipv6Addr::LOCALHOST {
        Some((Embedding::Ipv4Compatible, last))
    } else if NAT64.contains(&address) {
        Some((Embedding::Nat64, last))
    } else if SIX_TO_FOUR.contains(&address) {
        Some((Embedding::SixToFour, Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5])))
    } else {
        None
    }
}

/// Which rule refuses `address` as a destination, if any: the default,
/// before any operator exception.
pub fn classify(address: IpAddr) -> Option<Refusal> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4).map(|(rule, range)| Refusal { address, rule, range, embedded: None }),
        IpAddr::V6(v6) => {
            if let Some((embedding, inner)) = embedded_ipv4(v6) {
                if let Some((rule, range)) = classify_v4(inner) {
                    return Some(Refusal { address, rule, range, embedded: Some((embedding, inner)) });
                }
                // A deprecated form no host should answer on: refused
                // whatever it carries; the others reach a public address.
                return (embedding == Embedding::Ipv4Compatible).then_some(Refusal {
                    address,
                    rule: Rule::Reserved,
                    range: IpNet::V6(IPV4_COMPATIBLE),
                    embedded: None,
                });
            }
            if let Some((net, rule)) = V6_RULES.iter().find(|(net, _)| net.contains(&v6)) {
                return Some(Refusal { address, rule: *rule, range: IpNet::V6(*net), embedded: None });
            }
            (!GLOBAL_UNICAST.contains(&v6)).then(|| Refusal {
                address,
                rule: Rule::Reserved,
                // The /3 around it: IPv6 is allocated from 2000::/3 alone.
                range: IpNet::V6(Ipv6Net::new_assert(v6, 3).trunc()),
                embedded: None,
            })
        }
    }
}

/// The default rules plus the networks an operator opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allowed: Vec<IpNet>,
}

impl EgressPolicy {
    /// The default rules with `allowed` opened.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Parses the setting: comma-separated CIDRs or addresses (blank: none).
    pub fn parse(text: &str) -> Result<Self, IpListError> {
        let entries: Vec<&str> = text.split(',').map(str::trim).filter(|entry| !entry.is_empty()).collect();
        ip::parse_list(&entries).map(Self::new)
    }

    /// The networks opened.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a request may go to `address`: it is refused by no rule, or
    /// it (or the IPv4 address it carries) lies in an opened network.
    pub fn check(&self, address: IpAddr) -> Result<(), Refusal> {
        let Some(refusal) = classify(address) else { return Ok(()) };
        let carried = refusal.embedded.map(|(_, inner)| IpAddr::V4(inner));
        if ip::allows(&self.allowed, address) || carried.is_some_and(|inner| ip::allows(&self.allowed, inner)) {
            Ok(())
        } else {
            Err(refusal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    fn rule(text: &str) -> Option<Rule> {
        assert!(text.parse::<IpAddr>().is_ok(), "{text} is an address");
        classify(ip(text)).map(|refusal| refusal.rule)
    }

    #[test]
    fn every_special_ipv4_range_is_refused_by_its_rule() {
        for (address, expected) in [
            ("0.0.0.0", Rule::Unspecified),
            ("0.1.2.3", Rule::Unspecified),
            ("10.0.0.1", Rule::Private),
            ("10.255.255.255", Rule::Private),
            ("100.64.0.1", Rule::Shared),
            ("100.127.255.254", Rule::Shared),
            ("127.0.0.1", Rule::Loopback),
            ("127.255.0.9", Rule::Loopback),
            ("169.254.169.254", Rule::LinkLocal),
            ("172.16.0.1", Rule::Private),
            ("172.31.255.255", Rule::Private),
            ("192.0.0.8", Rule::Reserved),
            ("192.0.2.10", Rule::Documentation),
            ("192.88.99.1", Rule::Reserved),
            ("192.168.1.1", Rule::Private),
            ("198.18.0.1", Rule::Benchmarking),
            ("198.19.255.255", Rule::Benchmarking),
            ("198.51.100.7", Rule::Documentation),
            ("203.0.113.200", Rule::Documentation),
            ("224.0.0.251", Rule::Multicast),
            ("239.255.255.250", Rule::Multicast),
            ("240.0.0.1", Rule::Reserved),
            ("255.255.255.254", Rule::Reserved),
            ("255.255.255.255", Rule::Broadcast),
        ] {
            assert_eq!(rule(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn public_ipv4_neighbours_of_the_special_ranges_pass() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "223.255.255.255",
        ] {
            assert_eq!(rule(address), None, "{address}");
        }
    }

    #[test]
    fn ipv6_ranges_and_ipv4_inside_ipv6_are_refused_by_their_rule() {
        for (address, expected) in [
            ("::", Rule::Unspecified),
            ("::1", Rule::Loopback),
            ("::ffff:127.0.0.1", Rule::Loopback),
            ("::ffff:10.1.2.3", Rule::Private),
            ("::ffff:169.254.169.254", Rule::LinkLocal),
            ("::127.0.0.1", Rule::Loopback),
            ("::8.8.8.8", Rule::Reserved),
            ("64:ff9b::a00:1", Rule::Private),
            ("64:ff9b::7f00:1", Rule::Loopback),
            ("64:ff9b::a9fe:a9fe", Rule::LinkLocal),
            ("64:ff9b:1::1", Rule::Private),
            ("2002:7f00:1::1", Rule::Loopback),
            ("2002:c0a8:101::", Rule::Private),
            ("2002:6440:1::1", Rule::Shared),
            ("100::1", Rule::Reserved),
            ("2001::1", Rule::Reserved),
            ("2001:2::1", Rule::Benchmarking),
            ("2001:db8::1", Rule::Documentation),
            ("3fff::1", Rule::Documentation),
            ("5f00::1", Rule::Reserved),
            ("fc00::1", Rule::UniqueLocal),
            ("fd00::1", Rule::UniqueLocal),
            ("fdff:ffff::1", Rule::UniqueLocal),
            ("fe80::1", Rule::LinkLocal),
            ("fec0::1", Rule::Private),
            ("ff02::1", Rule::Multicast),
            ("4000::1", Rule::Reserved),
            ("e000::1", Rule::Reserved),
            ("1::1", Rule::Reserved),
        ] {
            assert_eq!(rule(address), Some(expected), "{address}");
        }
        for address in
            ["2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]
        {
            assert_eq!(rule(address), None, "{address}");
        }
    }

    #[test]
    fn a_refusal_names_the_rule_the_range_and_the_setting() {
        let refusal = classify(ip("::ffff:127.0.0.1")).unwrap_or_else(|| unreachable!());
        assert_eq!(refusal.embedded, Some((Embedding::Ipv4Mapped, Ipv4Addr::LOCALHOST)));
        assert_eq!(
            refusal.to_string(),
            "::ffff:127.0.0.1 is an IPv4-mapped address embedding 127.0.0.1, a loopback address (127.0.0.0/8)"
        );
        assert_eq!(refusal.kind(), "an IPv4-mapped address embedding a loopback address (127.0.0.0/8)");
        assert_eq!(
            refusal.remedy(),
            "an operator can allow it by adding 127.0.0.1/32 (or a wider network within 127.0.0.0/8) \
             to the webhook_allowed_networks setting (KEYWARD_WEBHOOK_ALLOWED_NETWORKS)"
        );
        let plain = classify(ip("169.254.169.254")).unwrap_or_else(|| unreachable!());
        assert_eq!(plain.to_string(), "169.254.169.254 is a link-local address (169.254.0.0/16)");
        assert!(!plain.kind().contains("169.254.169.254"), "the kind leaves the address out");
    }

    #[test]
    fn operators_open_exactly_the_networks_they_name() {
        let policy = EgressPolicy::parse(" 127.0.0.1/32, 10.1.0.0/16 ,,").unwrap_or_default();
        assert_eq!(policy.allowed().len(), 2);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()), "the same address seen through IPv6");
        assert_eq!(policy.check(ip("10.1.200.3")), Ok(()));
        assert_eq!(policy.check(ip("8.8.8.8")), Ok(()), "public addresses need no exception");
        assert_eq!(policy.check(ip("127.0.0.2")).map_err(|r| r.rule), Err(Rule::Loopback));
        assert_eq!(policy.check(ip("::1")).map_err(|r| r.rule), Err(Rule::Loopback), "IPv6 loopback is not opened");
        assert_eq!(policy.check(ip("10.2.0.1")).map_err(|r| r.rule), Err(Rule::Private));
        assert!(EgressPolicy::default().check(ip("127.0.0.1")).is_err(), "refused by default");
        assert_eq!(EgressPolicy::parse(""), Ok(EgressPolicy::default()));
        assert!(matches!(EgressPolicy::parse("127.0.0.1/8"), Err(IpListError::HostBits { .. })));
        assert!(matches!(EgressPolicy::parse("localhost"), Err(IpListError::Syntax(_))));
    }

    fn agrees_with_std(address: IpAddr) -> bool {
        // What the standard library can tell (stable predicates only) is
        // a subset of what is refused.
        let special = match address {
            IpAddr::V4(a) => {
                a.is_private()
                    || a.is_loopback()
                    || a.is_link_local()
                    || a.is_broadcast()
                    || a.is_documentation()
                    || a.is_unspecified()
                    || a.is_multicast()
            }
            IpAddr::V6(a) => {
                a.is_loopback()
                    || a.is_unspecified()
                    || a.is_multicast()
                    || a.is_unique_local()
                    || a.is_unicast_link_local()
            }
        };
        !special || classify(address).is_some()
    }

    proptest! {
        #[test]
        fn mapped_and_nat64_forms_are_judged_as_the_ipv4_address_they_carry(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            let expected = classify(IpAddr::V4(v4)).map(|r| (r.rule, r.range));
            let mapped = classify(IpAddr::V6(v4.to_ipv6_mapped())).map(|r| (r.rule, r.range));
            prop_assert_eq!(mapped, expected);
            let [a, b, c, d] = v4.octets();
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            prop_assert_eq!(classify(IpAddr::V6(nat64)).map(|r| (r.rule, r.range)), expected);
            let six_to_four = Ipv6Addr::new(0x2002, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]), 7, 0, 0, 0, 1);
            prop_assert_eq!(classify(IpAddr::V6(six_to_four)).map(|r| (r.rule, r.range)), expected);
        }

        #[test]
        fn a_refusal_range_holds_the_address_and_opening_it_lets_the_address_through(
            bits in any::<u128>(), v4 in any::<u32>(), use_v4 in any::<bool>()
        ) {
            let address = if use_v4 { IpAddr::V4(Ipv4Addr::from(v4)) } else { IpAddr::V6(Ipv6Addr::from(bits)) };
            prop_assert!(agrees_with_std(address), "{} passes although std calls it special", address);
            if let Some(refusal) = classify(address) {
                let judged = refusal.embedded.map_or(address, |(_, inner)| IpAddr::V4(inner));
                prop_assert!(refusal.range.contains(&judged), "{} not in {}", judged, refusal.range);
                prop_assert_eq!(EgressPolicy::default().check(address), Err(refusal.clone()));
                prop_assert_eq!(EgressPolicy::new(vec![refusal.range]).check(address), Ok(()));
            } else {
                prop_assert_eq!(EgressPolicy::default().check(address), Ok(()));
            }
        }
    }
}
