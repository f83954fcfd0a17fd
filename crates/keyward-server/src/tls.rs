//! TLS termination with rustls: the certificate and key come from PEM files
//! and can be replaced while the server runs.
//!
//! Certificates are renewed every few weeks (ACME), so a restart per renewal
//! would drop every connection. Here the files are read again on demand
//! ([`Certificates::reload`], which `keyward serve` calls on SIGHUP) and
//! whenever their size or modification time changes ([`Certificates::watch`]).
//! A handshake picks the certificate current at that moment; established
//! connections keep theirs. A reload that fails (a half-written file, a key
//! that does not match) keeps the previous pair and says why, once.
//!
//! Only TLS 1.2 and 1.3 are offered (rustls implements nothing older), and
//! ALPN offers HTTP/2 before HTTP/1.1.
//!
//! A renewal that silently stopped is the classic outage, so the presented
//! certificate's expiry is watched too: `/readyz` warns in its last
//! [`EXPIRY_WARNING`] and is not ready once it has expired, and the log
//! says so once a day.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// Why a certificate and key could not be used. Messages name the file and
/// never include key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS key in {key} does not belong to the certificate in {certificate}")]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// How long before its expiry a certificate is reported as expiring.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86_400);

/// Where the presented certificate stands against its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Valid for longer than [`EXPIRY_WARNING`].
    Valid { not_after: i64 },
    /// Valid, but for less than [`EXPIRY_WARNING`].
    Soon { not_after: i64 },
    /// Clients refuse it.
    Expired { not_after: i64 },
    /// It is presented, but its validity could not be read (an encoding
    /// the X.509 parser refuses): nobody would hear of its expiry in time.
    Unreadable,
}

impl Expiry {
    /// The presented certificate's `notAfter` (Unix seconds) judged at `now`.
    pub fn at(not_after: i64, now: i64) -> Self {
        let warning = i64::try_from(EXPIRY_WARNING.as_secs()).unwrap_or(i64::MAX);
        if now >= not_after {
            Self::Expired { not_after }
        } else if not_after - now <= warning {
            Self::Soon { not_after }
        } else {
            Self::Valid { not_after }
        }
    }

    /// One sentence for an operator, `None` when all is well.
    pub fn warning(&self, now: i64) -> Option<String> {
        let when = |at: i64| {
            chrono::DateTime::from_timestamp(at, 0)
                .map_or_else(|| at.to_string(), |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        match *self {
            Self::Valid { .. } => None,
            Self::Soon { not_after } => {
                let days = (not_after - now) / 86_400;
                let plural = if days == 1 { "" } else { "s" };
                Some(format!(
                    "the TLS certificate expires in {days} day{plural} ({}); renew it: Keyward picks up the new files \
                     without a restart",
                    when(not_after)
                ))
            }
            Self::Expired { not_after } => Some(format!(
                "the TLS certificate expired at {}; clients refuse it until it is renewed (Keyward picks up the new \
                 files without a restart)",
                when(not_after)
            )),
            Self::Unreadable => Some(
                "the TLS certificate's expiry could not be read, so Keyward cannot warn before it expires; check \
                 its notAfter yourself (openssl x509 -noout -enddate -in FILE)"
                    .to_owned(),
            ),
        }
    }
}

/// The certificate chain and key a TLS listener presents, reloadable.
#[derive(Debug)]
pub struct Certificates {
    certificate_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// What the files looked like when last read, to notice a change.
    seen: Mutex<Option<(FileStamp, FileStamp)>>,
}

type FileStamp = Option<(SystemTime, u64)>;

impl Certificates {
    /// Reads both PEM files: the certificate chain (leaf first) and its
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn load(certificate_file: &Path, key_file: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let seen = stamps(certificate_file, key_file);
        let pair = read_pair(certificate_file, key_file, &provider)?;
        Ok(Arc::new(Self {
            certificate_file: certificate_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: RwLock::new(Arc::new(pair)),
            seen: Mutex::new(Some(seen)),
        }))
    }

    /// The rustls configuration of a listener presenting these certificates.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|error| TlsError::Setup(error.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Reads the files again; on success, new handshakes present the new
    /// pair. On failure the previous pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let seen = stamps(&self.certificate_file, &self.key_file);
        let result = read_pair(&self.certificate_file, &self.key_file, &self.provider);
        // Remember the stamps even on failure, so a broken file is reported
        // once, not at every poll, and retried when it changes again.
        if let Ok(mut last) = self.seen.lock() {
            *last = Some(seen);
        }
        let pair = result?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(pair);
        }
        Ok(())
    }

    /// Reloads when either file's size or modification time changed since
    /// it was last read; `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = stamps(&self.certificate_file, &self.key_file);
        let changed = self.seen.lock().map(|last| last.as_ref() != Some(&now)).unwrap_or(true);
        changed.then(|| self.reload())
    }

    /// Looks at the files every `interval` until `stopping` resolves,
    /// logging each reload and each failed one, and, once a day, a
    /// certificate near or past its expiry.
    pub async fn watch(self: Arc<Self>, interval: Duration, stopping: impl std::future::Future<Output = ()>) {
        tokio::pin!(stopping);
        let mut warned_on_day = None;
        loop {
            let now = chrono::Utc::now().timestamp();
            if let Some(warning) = self.expiry(now).and_then(|expiry| expiry.warning(now)) {
                if warned_on_day != Some(now / 86_400) {
                    warned_on_day = Some(now / 86_400);
                    tracing::warn!(certificate = %self.certificate_file.display(), "{warning}");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut stopping => return,
            }
            match self.reload_if_changed() {
                Some(Ok(())) => {
                    tracing::info!(certificate = %self.certificate_file.display(), "TLS certificate reloaded")
                }
                Some(Err(error)) => {
                    tracing::error!(%error, "TLS certificate not reloaded; still presenting the previous one");
                }
                None => {}
            }
        }
    }

    /// Where the certificate presented now stands at `now` (Unix seconds);
    /// `None` when its validity cannot be read.
    pub fn expiry(&self, now: i64) -> Option<Expiry> {
        let leaf = self.current_leaf()?;
        match x509_parser::parse_x509_certificate(&leaf) {
            Ok((_, certificate)) => Some(Expiry::at(certificate.validity().not_after.timestamp(), now)),
            Err(error) => {
                tracing::warn!(%error, "the TLS certificate presented cannot be parsed to read its expiry");
                Some(Expiry::Unreadable)
            }
        }
    }

    /// The end-entity certificate presented now, DER-encoded.
    pub fn current_leaf(&self) -> Option<Vec<u8>> {
        let current = self.current.read().ok()?;
        current.cert.first().map(|cert| cert.as_ref().to_vec())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| Arc::clone(&current))
    }
}

fn stamps(certificate_file: &Path, key_file: &Path) -> (FileStamp, FileStamp) {
    let stamp = |path: &Path| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    (stamp(certificate_file), stamp(key_file))
}

fn read_pair(certificate_file: &Path, key_file: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let certificate_error = |reason: String| TlsError::Certificate { path: certificate_file.to_owned(), reason };
    let chain = CertificateDer::pem_file_iter(certificate_file)
        .map_err(|error| certificate_error(pem_reason(&error)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| certificate_error(pem_reason(&error)))?;
    if chain.is_empty() {
        return Err(certificate_error("it holds no PEM \"CERTIFICATE\" block".into()));
    }
    let key_error = |reason: String| TlsError::Key { path: key_file.to_owned(), reason };
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|error| key_error(pem_reason(&error)))?;
    let pair = CertifiedKey::from_der(chain, key, provider).map_err(|error| match error {
        rustls::Error::InconsistentKeys(_) => {
            TlsError::Mismatch { certificate: certificate_file.to_owned(), key: key_file.to_owned() }
        }
        other => key_error(other.to_string()),
    })?;
    Ok(pair)
}

/// PEM errors, phrased without echoing the file's contents.
fn pem_reason(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "it holds no PEM block of the expected kind".into(),
        Error::MissingSectionEnd { .. } | Error::IllegalSectionStart { .. } => "a PEM block is not closed".into(),
        Error::Base64Decode(_) => "a PEM block is not valid base64".into(),
        _ => "it is not valid PEM".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let certificate = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&certificate, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        (certificate, key)
    }

    #[test]
    fn loads_a_pair_and_offers_h2_then_http1() {
        let dir = tempfile::tempdir().unwrap();
        let (certificate, key) = self_signed(dir.path(), "one.test");
        let certificates = Certificates::load(&certificate, &key).unwrap();
        let config = certificates.server_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(certificates.current_leaf().is_some());
    }

    #[test]
    fn an_unreadable_expiry_is_a_warning_not_silence() {
        let warning = Expiry::Unreadable.warning(0).unwrap_or_default();
        assert!(warning.contains("could not be read") && warning.contains("notAfter"), "{warning}");
    }

    #[test]
    fn expiry_is_read_off_the_presented_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["soon.test".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2030, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 2, 1);
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let certificate = dir.path().join("soon.crt");
        let key = dir.path().join("soon.key");
        std::fs::write(&certificate, params.self_signed(&key_pair).unwrap().pem()).unwrap();
        std::fs::write(&key, key_pair.serialize_pem()).unwrap();
        let certificates = Certificates::load(&certificate, &key).unwrap();

        let not_after = 1_896_134_400; // 2030-02-01T00:00:00Z
        let day = 86_400;
        assert_eq!(certificates.expiry(not_after - 20 * day), Some(Expiry::Valid { not_after }));
        assert_eq!(certificates.expiry(not_after - 14 * day), Some(Expiry::Soon { not_after }));
        assert_eq!(certificates.expiry(not_after), Some(Expiry::Expired { not_after }));

        let now = not_after - 9 * day - 5;
        let soon = Expiry::at(not_after, now).warning(now).unwrap();
        assert!(soon.contains("expires in 9 days (2030-02-01T00:00:00Z)"), "{soon}");
        let expired = Expiry::at(not_after, not_after + 1).warning(not_after + 1).unwrap();
        assert!(expired.contains("expired at 2030-02-01T00:00:00Z"), "{expired}");
        assert_eq!(Expiry::at(not_after, not_after - 20 * day).warning(not_after - 20 * day), None);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (certificate, _) = self_signed(dir.path(), "one.test");
        let (_, other_key) = self_signed(dir.path(), "two.test");
        let error = Certificates::load(&certificate, &other_key).unwrap_err();
        assert!(matches!(error, TlsError::Mismatch { .. }), "{error}");
        assert!(error.to_string().contains("two.test.key"), "{error}");
    }

    #[test]
    fn missing_and_garbage_files_say_which_file_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let (certificate, key) = self_signed(dir.path(), "one.test");
        let missing = Certificates::load(&dir.path().join("absent.crt"), &key).unwrap_err();
        assert!(missing.to_string().contains("absent.crt"), "{missing}");
        let garbage = dir.path().join("garbage.key");
        std::fs::write(&garbage, "not a key").unwrap();
        let error = Certificates::load(&certificate, &garbage).unwrap_err();
        assert!(error.to_string().contains("garbage.key"), "{error}");
        assert!(!error.to_string().contains("not a key"), "{error}");
    }

    #[test]
    fn a_changed_pair_is_picked_up_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let (certificate, key) = self_signed(dir.path(), "one.test");
        let certificates = Certificates::load(&certificate, &key).unwrap();
        let first = certificates.current_leaf().unwrap();
        assert!(certificates.reload_if_changed().is_none(), "nothing changed yet");

        let (new_certificate, new_key) = self_signed(dir.path(), "two.test");
        std::fs::copy(&new_certificate, &certificate).unwrap();
        std::fs::copy(&new_key, &key).unwrap();
        // Same length files may share a modification time at coarse
        // resolution; reload() is what SIGHUP calls regardless.
        certificates.reload().unwrap();
        let second = certificates.current_leaf().unwrap();
        assert_ne!(first, second);

        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\ntruncated").unwrap();
        assert!(certificates.reload_if_changed().expect("the key file changed").is_err());
        assert_eq!(certificates.current_leaf().unwrap(), second, "a broken pair must not replace a good one");
        assert!(certificates.reload_if_changed().is_none(), "a broken file is reported once");
    }
}
