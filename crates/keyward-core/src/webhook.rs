//! Webhooks without I/O: which events go out, how a delivery is signed and
//! checked, what an endpoint URL may be, and how signing secrets are sealed
//! at rest. The wire format is specified in `docs/webhooks.md`.
//!
//! A delivery carries `Keyward-Signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256 under the endpoint's signing secret of
//! `"<t>.<raw body>"`. The timestamp is signed too, so a captured delivery
//! cannot be replayed later than the receiver's tolerance.

use std::fmt;
use std::net::IpAddr;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::audit::AuditAction;
use crate::egress::{EgressPolicy, Refusal};
use crate::rng::{RngError, SecureRng};
use crate::secret::SecretToken;

/// The header carrying the timestamp and signature.
pub const SIGNATURE_HEADER: &str = "Keyward-Signature";
/// The header naming the event (its audit event id): receivers deduplicate on it.
pub const EVENT_ID_HEADER: &str = "Keyward-Event-Id";
/// The header naming the event type, e.g. `token.revoked`.
pub const EVENT_TYPE_HEADER: &str = "Keyward-Event-Type";
/// How far a signature's timestamp may be from the receiver's clock.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;
/// Prefix of signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random base62 characters in a signing secret (about 190 bits).
const SECRET_RANDOM_LEN: usize = 32;
/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// The lifecycle events sent to webhooks: every change to a token, what
/// the lifecycle scheduler notices, and bursts of unknown tokens.
pub const EVENT_TYPES: &[&str] = &[
    AuditAction::TokenCreated.as_str(),
    AuditAction::TokenUpdated.as_str(),
    AuditAction::TokenRevoked.as_str(),
    AuditAction::TokensBulkRevoked.as_str(),
    AuditAction::TokenRotated.as_str(),
    AuditAction::TokenGraceChanged.as_str(),
    AuditAction::TokenReusedAfterRotation.as_str(),
    AuditAction::TokenDisabled.as_str(),
    AuditAction::TokenDisabledInactive.as_str(),
    AuditAction::TokenEnabled.as_str(),
    AuditAction::TokenDeleted.as_str(),
    AuditAction::TokenExpiring.as_str(),
    AuditAction::TokenExpired.as_str(),
    AuditAction::TokenInactivityWarning.as_str(),
    AuditAction::TokenRotationDue.as_str(),
    AuditAction::TokenSpraying.as_str(),
    AuditAction::AdminRecovered.as_str(),
];

/// Whether audit events with `action` are delivered to webhooks.
pub fn is_event_type(action: &str) -> bool {
    EVENT_TYPES.contains(&action)
}

type HmacSha256 = Hmac<Sha256>;

/// A new signing secret, `whsec_…`, shown once to whoever registers the endpoint.
pub fn generate_secret(rng: &dyn SecureRng) -> Result<SecretToken, RngError> {
    let mut text = String::with_capacity(SECRET_PREFIX.len() + SECRET_RANDOM_LEN);
    text.push_str(SECRET_PREFIX);
    crate::token::push_random_base62(&mut text, SECRET_RANDOM_LEN, rng)?;
    Ok(SecretToken::new(text))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Keyward-Signature` value for `body` sent at `timestamp` (Unix seconds).
pub fn signature_header(secret: &SecretToken, timestamp: i64, body: &[u8]) -> String {
    signature_header_for(std::slice::from_ref(secret), timestamp, body)
}

/// The `Keyward-Signature` value signed under each of `secrets`: while an
/// endpoint's secret is being replaced, one `v1=` per secret, so a receiver
/// holding either accepts the delivery.
pub fn signature_header_for(secrets: &[SecretToken], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let digest = mac(secret.expose(), timestamp, body).finalize().into_bytes();
        header.push_str(",v1=");
        header.push_str(&to_hex(&digest));
    }
    header
}

/// The sealing context of an automatic rotation's new secret: bound to
/// one endpoint and one event, so a sealed secret copied to another
/// delivery row does not open.
pub fn handoff_context(endpoint_id: &str, event_id: &str) -> String {
    format!("handoff:{endpoint_id}:{event_id}")
}

/// A parsed `Keyward-Signature` value: its timestamp and every `v1`
/// signature (more than one while a secret is being replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    /// Unix seconds.
    pub timestamp: i64,
    /// The HMAC-SHA256 values.
    pub signatures: Vec<[u8; 32]>,
}

/// Why a delivery's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<digits>,v1=<64 hex>[,…]`.
    #[error("the signature header is malformed")]
    Malformed,
    /// Signed too long ago (or too far ahead).
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// No signature matches the body and secret.
    #[error("no signature matches")]
    Mismatch,
}

impl ParsedSignature {
    /// Parses a header value. Unknown schemes (`v0=…`) are skipped so the
    /// scheme can evolve; a timestamp and at least one `v1` are required.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.len() > 4096 {
            return Err(SignatureError::Malformed);
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
            match key {
                "t" if timestamp.is_none() && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?);
                }
                "t" => return Err(SignatureError::Malformed),
                "v1" => signatures.push(from_hex(value).ok_or(SignatureError::Malformed)?),
                _ => {}
            }
        }
        match timestamp {
            Some(timestamp) if !signatures.is_empty() => Ok(Self { timestamp, signatures }),
            _ => Err(SignatureError::Malformed),
        }
    }
}

/// Checks a delivery as a receiver should: parse the header, refuse a
/// timestamp more than `tolerance_seconds` from `now` (Unix seconds), and
/// compare signatures in constant time.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<ParsedSignature, SignatureError> {
    let parsed = ParsedSignature::parse(header)?;
    if now.abs_diff(parsed.timestamp) > tolerance_seconds.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, parsed.timestamp, body).finalize().into_bytes();
    if parsed.signatures.iter().any(|candidate| bool::from(candidate.ct_eq(expected.as_slice()))) {
        Ok(parsed)
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (at, pair) in text.as_bytes().chunks_exact(2).enumerate() {
        let digit = |b: u8| char::from(b).to_digit(16);
        out[at] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// Why an endpoint URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an acceptable URL; in words for the caller.
    #[error("{0}")]
    Invalid(String),
    /// The host is an address the deployment does not deliver to.
    #[error("must not point into a network webhooks may not reach: {0}")]
    Forbidden(Refusal),
}

/// The address an endpoint URL names literally, if it names one. The URL
/// is parsed as browsers do (WHATWG), so `2130706433`, `0x7f000001`,
/// `0177.0.0.1` and `127.1` all come back as 127.0.0.1: the address a
/// client would connect to.
pub fn host_address(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(address) => Some(IpAddr::V4(address)),
        url::Host::Ipv6(address) => Some(IpAddr::V6(address)),
        url::Host::Domain(_) => None,
    }
}

/// Checks an endpoint URL and answers it normalized. A literal address
/// must pass `egress` (names are checked at each delivery, against what
/// they resolve to then). It must be absolute `https`, or `http` to a
/// loopback host (for local receivers), carry no credentials (they would
/// sit in the database and in logs) and no fragment.
pub fn validate_url(text: &str, egress: &EgressPolicy) -> Result<String, UrlError> {
    if text.len() > MAX_URL_LEN {
        return Err(UrlError::Invalid(format!("must be at most {MAX_URL_LEN} characters")));
    }
    let url = url::Url::parse(text).map_err(|error| UrlError::Invalid(format!("is not an absolute URL ({error})")))?;
    let host = url.host().ok_or_else(|| UrlError::Invalid("must name a host".into()))?;
    if let Some(address) = host_address(&url) {
        egress.check(address).map_err(UrlError::Forbidden)?;
    }
    let loopback = match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(address) => address.is_loopback(),
        url::Host::Ipv6(address) => address.is_loopback(),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(UrlError::Invalid("must use https (plain http is allowed only to localhost)".into())),
        other => return Err(UrlError::Invalid(format!("must use https, not {other:?}"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Invalid("must not carry a user name or password; authenticate by the signature".into()));
    }
    if url.fragment().is_some() {
        return Err(UrlError::Invalid("must not have a #fragment".into()));
    }
    Ok(url.to_string())
}

/// The key that seals webhook signing secrets at rest: 32 bytes, given as
/// 64 hex characters by file or environment variable. A copy of the
/// database without it reveals no signing secret.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// The master key text is not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the master key must be 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`")]
pub struct InvalidMasterKey;

/// A sealed secret did not open: wrong master key, or the data was altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a sealed secret could not be opened: the master key differs from the one that sealed it, or the data was altered"
)]
pub struct UnsealError;

/// Version byte of the sealed format: 1 = ChaCha20-Poly1305, 12-byte nonce.
const SEALED_VERSION: u8 = 1;

impl MasterKey {
    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, InvalidMasterKey> {
        from_hex::<32>(text.trim()).map(|bytes| Self(Zeroizing::new(bytes))).ok_or(InvalidMasterKey)
    }

    /// A new random key and its hex text (to be written to a 0600 file).
    pub fn generate(rng: &dyn SecureRng) -> Result<(Self, Zeroizing<String>), RngError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill(&mut bytes[..])?;
        let text = Zeroizing::new(to_hex(&bytes[..]));
        Ok((Self(bytes), text))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new((&*self.0).into())
    }

    /// Seals `plaintext`, bound to `context` (the row it belongs to, so a
    /// sealed value moved to another row does not open).
    pub fn seal(&self, plaintext: &[u8], context: &str, rng: &dyn SecureRng) -> Result<Vec<u8>, RngError> {
        let mut nonce = [0u8; 12];
        rng.fill(&mut nonce)?;
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            // Encryption fails only for inputs beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + nonce.len() + sealed.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`MasterKey::seal`] sealed with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
        match sealed {
            [SEALED_VERSION, rest @ ..] if rest.len() > 12 => {
                let (nonce, ciphertext) = rest.split_at(12);
                self.cipher()
                    .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
                    .map(Zeroizing::new)
                    .map_err(|_| UnsealError)
            }
            _ => Err(UnsealError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::Rule;
    use crate::rng::SeededRng;
    use proptest::prelude::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_time() {
        let secret = generate_secret(&SeededRng::new(1)).unwrap();
        assert!(secret.expose().starts_with("whsec_") && secret.expose().len() == 38);
        let header = signature_header(&secret, 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        let ok = verify(secret.expose(), &header, b"{\"a\":1}", 1_700_000_100, 300).unwrap();
        assert_eq!(ok.timestamp, 1_700_000_000);
        assert_eq!(verify(secret.expose(), &header, b"{\"a\":2}", 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify("whsec_other", &header, b"{\"a\":1}", 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(secret.expose(), &header, b"{\"a\":1}", 1_700_000_301, 300), Err(SignatureError::Stale));
        assert!(verify(secret.expose(), &header, b"{\"a\":1}", 1_700_000_300, 300).is_ok(), "the bound is inclusive");
        // The timestamp is signed: moving it breaks the signature.
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify(secret.expose(), &moved, b"{\"a\":1}", 1_700_000_000, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn during_a_secret_replacement_either_secret_verifies_the_same_header() {
        let old = generate_secret(&SeededRng::new(1)).unwrap();
        let new = generate_secret(&SeededRng::new(2)).unwrap();
        let header = signature_header_for(&[new.clone(), old.clone()], 1_700_000_000, b"{}");
        assert_eq!(header.matches(",v1=").count(), 2, "{header}");
        assert!(header.starts_with(&signature_header(&new, 1_700_000_000, b"{}")), "the current secret signs first");
        for secret in [&old, &new] {
            assert!(verify(secret.expose(), &header, b"{}", 1_700_000_000, 300).is_ok());
        }
        assert_eq!(verify("whsec_third", &header, b"{}", 1_700_000_000, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn headers_parse_strictly() {
        let sig = "ab".repeat(32);
        assert!(ParsedSignature::parse(&format!("t=5,v1={sig}")).is_ok());
        assert_eq!(ParsedSignature::parse(&format!("t=5,v0=zz,v1={sig},v1={sig}")).unwrap().signatures.len(), 2);
        for bad in [
            String::new(),
            "t=5".into(),
            format!("v1={sig}"),
            format!("t=-5,v1={sig}"),
            format!("t=5,t=6,v1={sig}"),
            format!("t=5,v1={}", &sig[1..]),
            format!("t=5,v1={}", "zz".repeat(32)),
            format!("t=99999999999999999999,v1={sig}"),
            format!("t=5;v1={sig}"),
        ] {
            assert_eq!(ParsedSignature::parse(&bad), Err(SignatureError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn urls_must_be_https_or_loopback_http_without_credentials() {
        let local = EgressPolicy::parse("127.0.0.0/8,::1").unwrap();
        let validate = |text: &str| validate_url(text, &local);
        assert_eq!(validate("https://hooks.example.com/keyward").unwrap(), "https://hooks.example.com/keyward");
        assert!(validate("http://127.0.0.1:9000/in").is_ok());
        assert!(validate("http://localhost/in").is_ok());
        assert!(validate("http://[::1]:8080/").is_ok());
        for bad in [
            "hooks.example.com",
            "ftp://hooks.example.com/",
            "http://hooks.example.com/",
            "https://user:pass@hooks.example.com/",
            "https://hooks.example.com/#x",
            "https://",
            "javascript:alert(1)",
        ] {
            assert!(matches!(validate(bad), Err(UrlError::Invalid(_))), "{bad}");
        }
        assert!(validate(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn literal_addresses_are_normalized_as_browsers_do_then_judged() {
        let strict = EgressPolicy::default();
        for (text, address, rule) in [
            ("http://127.0.0.1:5432/", "127.0.0.1", Rule::Loopback),
            ("http://2130706433:5432/", "127.0.0.1", Rule::Loopback),
            ("http://0x7f000001/", "127.0.0.1", Rule::Loopback),
            ("http://0177.0.0.1/", "127.0.0.1", Rule::Loopback),
            ("http://127.1/", "127.0.0.1", Rule::Loopback),
            ("http://127.0.0.1./", "127.0.0.1", Rule::Loopback),
            ("http://[::1]/", "::1", Rule::Loopback),
            ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", Rule::Loopback),
            ("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1", Rule::Loopback),
            ("https://10.0.0.7/", "10.0.0.7", Rule::Private),
            ("https://012.0.0.7/", "10.0.0.7", Rule::Private),
            ("https://192.168.1.20/", "192.168.1.20", Rule::Private),
            ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", Rule::LinkLocal),
            ("https://[fd00::1]/", "fd00::1", Rule::UniqueLocal),
            ("https://100.64.0.1/", "100.64.0.1", Rule::Shared),
            ("https://0.0.0.0/", "0.0.0.0", Rule::Unspecified),
            ("https://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe", Rule::LinkLocal),
        ] {
            let url = url::Url::parse(text).unwrap();
            assert_eq!(host_address(&url), Some(address.parse().unwrap()), "{text}");
            match validate_url(text, &strict) {
                Err(UrlError::Forbidden(refusal)) => assert_eq!(refusal.rule, rule, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(host_address(&url::Url::parse("https://hooks.example.com/").unwrap()), None);
        // Names are judged at delivery, by what they resolve to then.
        assert!(validate_url("http://localhost:8080/in", &strict).is_ok());
        assert!(validate_url("https://hooks.example.com/", &strict).is_ok());
        assert!(validate_url("https://93.184.215.14/", &strict).is_ok(), "a public literal");
        let message = validate_url("http://0x7f000001/", &strict).unwrap_err().to_string();
        assert!(message.contains("127.0.0.1") && message.contains("loopback"), "{message}");
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let rng = SeededRng::new(3);
        let (key, text) = MasterKey::generate(&rng).unwrap();
        assert_eq!(text.len(), 64);
        let same = MasterKey::from_hex(&format!(" {}\n", &*text)).unwrap();
        let sealed = key.seal(b"whsec_abc", "whk_1", &rng).unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"whsec_abc"), "not in clear");
        assert_eq!(&*same.open(&sealed, "whk_1").unwrap(), b"whsec_abc");
        assert_eq!(same.open(&sealed, "whk_2"), Err(UnsealError), "bound to its row");
        let (other, _) = MasterKey::generate(&rng).unwrap();
        assert_eq!(other.open(&sealed, "whk_1"), Err(UnsealError));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&altered, "whk_1"), Err(UnsealError));
        assert_eq!(key.open(&[], "whk_1"), Err(UnsealError));
        assert!(MasterKey::from_hex("abc").is_err());
        assert!(!format!("{key:?}").contains(&text[..8]));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(header in ".{0,300}") {
            let _ = ParsedSignature::parse(&header);
        }

        #[test]
        fn what_is_signed_verifies(body in proptest::collection::vec(any::<u8>(), 0..512), t in 0i64..4_000_000_000) {
            let secret = generate_secret(&SeededRng::new(9)).unwrap();
            let header = signature_header(&secret, t, &body);
            prop_assert!(verify(secret.expose(), &header, &body, t, 0).is_ok());
        }
    }
}
