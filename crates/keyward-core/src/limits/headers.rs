//! The `RateLimit-Policy` and `RateLimit` response fields of
//! draft-ietf-httpapi-ratelimit-headers-11 (23 May 2026), and `Retry-After`.
//!
//! Both fields are Structured Field Lists (RFC 9651 §3.1) of Items whose
//! bare item is a String naming the policy (draft §3: "The Item value MUST
//! be a String"), with Integer parameters:
//!
//! - `RateLimit-Policy` (§3): `"requests";q=100;w=60` per limit. `q` (§3.1.1,
//!   REQUIRED) is the quota, our `limit`; `w` (§3.1.3) the window in whole
//!   seconds, our `period_seconds`, which validation keeps ≥ 1 as the draft
//!   requires. `qu` (§3.1.2) is left out: its default, `"requests"`, is what
//!   a cost counts (a cost is a number of request units).
//! - `RateLimit` (§4): `"requests";r=42;t=1` per applied limit. `r` (§4.1.1,
//!   REQUIRED) is the available quota, [`Decision::remaining`]; `t` (§4.1.2)
//!   is the *effective window*, "the number of seconds within which the
//!   client can use no more than the available quota". For GCRA that is the
//!   time until one more unit accrues ([`Decision::reset_after_micros`]),
//!   rounded **up**: a client that waits `t` seconds before exceeding `r`
//!   is never refused by this limit alone, and rounding down would say `t=0`
//!   for every limit faster than one unit a second.
//! - `pk` (§3.1.4, §4.1.3) is not sent. The partition is the token, or for
//!   `owner.` limits its owner, which the caller already knows; sending an
//!   identifier would put owner ids (often emails) in headers, which §6.1
//!   asks servers to avoid. Owner limits are told apart by name instead.
//! - `Retry-After` (RFC 9110 §10.2.3) is delay-seconds, rounded up and never
//!   0 on a refusal; it is never earlier than the end of any reported
//!   effective window, as draft-11 §6 asks (a refused cost exceeds `r`, so
//!   its wait is at least the wait for one more unit).
//!
//! Integers are clamped to RFC 9651's 15 digits; names are the limit-name
//! alphabet (see [`super::spec::limit_name`]) plus `owner.`, which needs no
//! escaping, but the serializer escapes `"` and `\` anyway (§4.1.6).

use super::effective::EffectiveLimit;
use super::gcra::Decision;

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: &str = "RateLimit-Policy";
/// `RateLimit`.
pub const RATELIMIT: &str = "RateLimit";
/// `Retry-After`.
pub const RETRY_AFTER: &str = "Retry-After";

/// RFC 9651 §3.3.1: an Integer has at most 15 digits.
const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

/// A limit's quota policy item, e.g. `"requests";q=100;w=60`.
pub fn policy_item(limit: &EffectiveLimit) -> String {
    let q = limit.spec.limit().min(SF_INTEGER_MAX);
    let w = limit.spec.period_seconds().min(SF_INTEGER_MAX);
    format!("{};q={q};w={w}", sf_string(&limit.reported_name()))
}

/// A limit's service limit item after a decision, e.g. `"requests";r=42;t=1`.
pub fn service_limit_item(limit: &EffectiveLimit, decision: &Decision) -> String {
    let r = decision.remaining.min(SF_INTEGER_MAX);
    let t = decision.reset_seconds().min(SF_INTEGER_MAX);
    format!("{};r={r};t={t}", sf_string(&limit.reported_name()))
}

/// The `RateLimit-Policy` value for the applied limits; `None` when there
/// are none (the field is a non-empty list, §3, so it is then omitted).
pub fn ratelimit_policy<'a>(limits: impl IntoIterator<Item = &'a EffectiveLimit>) -> Option<String> {
    join(limits.into_iter().map(policy_item))
}

/// The `RateLimit` value for the applied limits and their decisions, in the
/// same order; `None` when there are none.
pub fn ratelimit<'a>(applied: impl IntoIterator<Item = (&'a EffectiveLimit, &'a Decision)>) -> Option<String> {
    join(applied.into_iter().map(|(limit, decision)| service_limit_item(limit, decision)))
}

/// `Retry-After` delay-seconds for a refusal's wait: rounded up, at least 1.
pub fn retry_after_seconds(retry_after_micros: i64) -> u64 {
    super::gcra::seconds_up(retry_after_micros).clamp(1, SF_INTEGER_MAX)
}

fn join(items: impl Iterator<Item = String>) -> Option<String> {
    // RFC 9651 §4.1.1: members are separated by ", ".
    let joined = items.collect::<Vec<_>>().join(", ");
    (!joined.is_empty()).then_some(joined)
}

/// RFC 9651 §4.1.6: a String is printable ASCII in quotes, with `"` and `\`
/// escaped. Other characters cannot be sent and are dropped.
fn sf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Integer parameters in order, a repeated key keeping its last value.
pub type Params = Vec<(String, i64)>;
/// One parsed Item: the String it names and its Integer parameters.
pub type ParsedItem = (String, Params);

/// Parses a List of String Items with Integer parameters, the shape both
/// fields have (RFC 9651 §4.2.1, §4.2.3, §4.2.3.2, §4.2.5, §4.2.4 for the
/// parts used). For tests and clients of Keyward's own answers, not a
/// general Structured Field parser: other bare item types are refused.
pub fn parse_items(field: &str) -> Result<Vec<ParsedItem>, String> {
    let mut rest = field.trim_matches(' ');
    let mut items = Vec::new();
    while !rest.is_empty() {
        let (name, after) = parse_string(rest)?;
        let (params, after) = parse_params(after)?;
        items.push((name, params));
        rest = after.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(',').ok_or("expected a comma between members")?.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Err("trailing comma".to_owned());
        }
    }
    Ok(items)
}

fn parse_string(input: &str) -> Result<(String, &str), String> {
    let mut chars = input.strip_prefix('"').ok_or("expected a String")?.char_indices();
    let mut out = String::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                _ => return Err("bad escape".to_owned()),
            },
            '"' => return Ok((out, &input[at + 2..])),
            ' '..='~' => out.push(c),
            _ => return Err("not printable ASCII".to_owned()),
        }
    }
    Err("unterminated String".to_owned())
}

fn parse_params(mut input: &str) -> Result<(Params, &str), String> {
    let mut params = Params::new();
    while let Some(after) = input.strip_prefix(';') {
        let after = after.trim_start_matches(' ');
        let key_len = after
            .char_indices()
            .find(|(at, c)| {
                let first = *at == 0;
                !(c.is_ascii_lowercase() || *c == '*' || (!first && (c.is_ascii_digit() || "_-.".contains(*c))))
            })
            .map_or(after.len(), |(at, _)| at);
        if key_len == 0 {
            return Err("expected a key".to_owned());
        }
        let (key, after) = after.split_at(key_len);
        let after = after.strip_prefix('=').ok_or("expected an Integer parameter")?;
        let digits = after.strip_prefix('-').unwrap_or(after);
        let len = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
        if len == 0 || len > 15 {
            return Err("expected an Integer of 1 to 15 digits".to_owned());
        }
        let consumed = after.len() - digits.len() + len;
        let value: i64 = after[..consumed].parse().map_err(|_| "bad Integer")?;
        // §4.2.3.2: a repeated key overwrites the earlier value.
        params.retain(|(existing, _)| existing != key);
        params.push((key.to_owned(), value));
        input = &after[consumed..];
    }
    Ok((params, input))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::gcra::decide;
    use crate::limits::{EffectiveLimits, RateLimitInput, RateLimits};
    use proptest::prelude::*;

    fn effective(entries: &[(&str, u64, u64)], owner: &[(&str, u64, u64)]) -> EffectiveLimits {
        let list = |entries: &[(&str, u64, u64)]| {
            RateLimits::new(
                entries
                    .iter()
                    .map(|(n, l, p)| RateLimitInput { name: (*n).into(), limit: *l, period_seconds: *p })
                    .collect(),
            )
            .unwrap()
        };
        EffectiveLimits::inherit(Some(&list(entries)), &RateLimits::none(), &list(owner))
    }

    #[test]
    fn fields_have_the_drafts_shape() {
        let limits = effective(&[("requests", 100, 60), ("burst", 10, 1)], &[("daily", 1000, 86_400)]);
        assert_eq!(
            ratelimit_policy(limits.limits()).unwrap(),
            r#""requests";q=100;w=60, "burst";q=10;w=1, "owner.daily";q=1000;w=86400"#
        );
        let now = 1_700_000_000_000_000;
        let decisions: Vec<_> = limits.limits().iter().map(|l| decide(&l.spec, None, now, 1).unwrap()).collect();
        assert_eq!(
            ratelimit(limits.limits().iter().zip(&decisions)).unwrap(),
            r#""requests";r=99;t=1, "burst";r=9;t=1, "owner.daily";r=999;t=87"#
        );
        assert_eq!(ratelimit_policy(&[]), None);
        assert_eq!(ratelimit(std::iter::empty()), None);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_seconds(0), 1);
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(1_000_000), 1);
        assert_eq!(retry_after_seconds(1_000_001), 2);
        assert_eq!(retry_after_seconds(i64::MAX), 9_223_372_036_855);
        assert_eq!(retry_after_seconds(-5), 1);
    }

    #[test]
    fn strings_escape_and_the_parser_reads_the_drafts_examples() {
        assert_eq!(sf_string("a\"b\\c\u{1}é"), r#""a\"b\\c""#);
        assert_eq!(parse_items(r#""a\"b\\c""#).unwrap(), [("a\"b\\c".to_owned(), vec![])]);
        let example = parse_items(r#""permin";q=50;w=60,"perhr";q=1000;w=3600"#).unwrap();
        assert_eq!(example[1], ("perhr".to_owned(), vec![("q".to_owned(), 1000), ("w".to_owned(), 3600)]));
        for bad in [
            "requests;q=1",
            r#""a";q"#,
            r#""a";q=x"#,
            r#""a","#,
            r#""a" "b""#,
            r#""a";Q=1"#,
            r#""a";q=1234567890123456"#,
        ] {
            assert!(parse_items(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn fields_round_trip_through_the_parser(
            entries in prop::collection::vec(("[a-z0-9][a-z0-9_-]{0,31}", 1u64..=1_000_000_000, 1u64..=2_592_000), 1..8),
            now in 0i64..=4_000_000_000_000_000,
            cost in 0u64..=3,
        ) {
            let mut seen = std::collections::HashSet::new();
            let entries: Vec<_> = entries.into_iter().filter(|(n, _, _)| seen.insert(n.clone())).collect();
            let borrowed: Vec<_> = entries.iter().map(|(n, l, p)| (n.as_str(), *l, *p)).collect();
            let limits = effective(&borrowed, &borrowed[..1]);
            let policy = parse_items(&ratelimit_policy(limits.limits()).unwrap()).unwrap();
            let decisions: Vec<_> =
                limits.limits().iter().map(|l| decide(&l.spec, None, now, cost.min(l.spec.limit())).unwrap()).collect();
            let state = parse_items(&ratelimit(limits.limits().iter().zip(&decisions)).unwrap()).unwrap();
            prop_assert_eq!(policy.len(), limits.limits().len());
            for ((limit, decision), (p, s)) in limits.limits().iter().zip(&decisions).zip(policy.iter().zip(&state)) {
                prop_assert_eq!(&p.0, &limit.reported_name());
                prop_assert_eq!(&p.1, &vec![("q".to_owned(), limit.spec.limit() as i64), ("w".to_owned(), limit.spec.period_seconds() as i64)]);
                prop_assert_eq!(&s.0, &limit.reported_name());
                prop_assert_eq!(&s.1, &vec![("r".to_owned(), decision.remaining as i64), ("t".to_owned(), decision.reset_seconds() as i64)]);
                prop_assert!(decision.reset_seconds() >= 1, "t is rounded up");
            }
        }
    }
}
