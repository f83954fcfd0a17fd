//! Where people reach this server: its public origin, and whether a
//! browser there will keep Keyward's cookies.
//!
//! The session and form cookies are `__Host-…; Secure`, which browsers
//! keep only from a secure context: an `https://` page, or plain HTTP on a
//! loopback name. A server opened as `http://server:8420` therefore can
//! never sign anyone in, and without being told, the pages would loop on
//! "this form expired". [`Site`] decides, per request, whether that is the
//! case (so the pages can say what to do instead), which origin links and
//! examples should show, and which origin a form may be posted from.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderValue};

/// Why a `public_url` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SiteError {
    #[error("public_url {0:?} is not a URL such as https://keys.example.com")]
    NotAUrl(String),
    #[error(
        "public_url {0:?} must be an https:// address (plain http:// only for localhost or a loopback address): \
         browsers refuse Keyward's secure cookies anywhere else"
    )]
    Insecure(String),
    #[error("public_url {0:?} must be an origin only (scheme, host and port), without user, path, query or fragment")]
    NotAnOrigin(String),
}

/// What this server knows about how it is reached.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// `scheme://host[:port]` as users type it, when configured.
    public_origin: Option<String>,
    /// Whether the configured origin is `https`.
    public_https: bool,
    /// Whether this process terminates TLS itself.
    tls: bool,
}

/// What a form submission's origin headers say.
#[derive(Debug, PartialEq, Eq)]
pub enum FormOrigin {
    /// From our own pages, or from a client that sends no origin at all
    /// (the CSRF token still has to match).
    Ours,
    /// From another site; carries what the browser said.
    Foreign(String),
}

impl Site {
    /// A site reached at `public_url` (if given), serving TLS itself when
    /// `tls` is set.
    pub fn new(public_url: Option<&str>, tls: bool) -> Result<Self, SiteError> {
        let Some(raw) = public_url.map(str::trim).filter(|url| !url.is_empty()) else {
            return Ok(Self { public_origin: None, public_https: false, tls });
        };
        let url = url::Url::parse(raw).map_err(|_| SiteError::NotAUrl(raw.to_owned()))?;
        let host = match url.host() {
            Some(host) if matches!(url.scheme(), "http" | "https") => host,
            _ => return Err(SiteError::NotAUrl(raw.to_owned())),
        };
        if !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(SiteError::NotAnOrigin(raw.to_owned()));
        }
        let https = url.scheme() == "https";
        if !https && !is_loopback_host(&host.to_string()) {
            return Err(SiteError::Insecure(raw.to_owned()));
        }
        Ok(Self { public_origin: Some(url.origin().ascii_serialization()), public_https: https, tls })
    }

    /// The configured public origin, if any.
    pub fn public_origin(&self) -> Option<&str> {
        self.public_origin.as_deref()
    }

    /// Whether this process terminates TLS.
    pub fn serves_tls(&self) -> bool {
        self.tls
    }

    /// The origin to print in links and examples for a request carrying
    /// `headers`: the configured one, else the address the browser used.
    pub fn origin(&self, headers: &HeaderMap) -> String {
        if let Some(origin) = &self.public_origin {
            return origin.clone();
        }
        let scheme = if self.tls { "https" } else { "http" };
        match request_host(headers) {
            Some(host) => format!("{scheme}://{host}"),
            None => format!("{scheme}://127.0.0.1:8420"),
        }
    }

    /// Whether a browser that sent `headers` keeps `Secure` cookies from
    /// us: we serve TLS, a TLS proxy is configured as the public origin, or
    /// the browser addressed us by a loopback name.
    pub fn secure_context(&self, headers: &HeaderMap) -> bool {
        if self.tls || self.public_https {
            return true;
        }
        // No Host at all (HTTP/1.0, in-process calls): nothing to judge by,
        // and no browser sends such a request.
        headers.get(header::HOST).is_none()
            || request_host(headers).is_some_and(|host| is_loopback_host(host_without_port(host)))
    }

    /// Judges a form submission by `Sec-Fetch-Site` and `Origin`, which
    /// browsers set and pages cannot forge.
    pub fn form_origin(&self, headers: &HeaderMap) -> FormOrigin {
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            // `same-site` is a sibling subdomain: another application.
            if matches!(site, "cross-site" | "same-site") {
                let origin = header_text(headers, header::ORIGIN).unwrap_or(site);
                return FormOrigin::Foreign(origin.to_owned());
            }
        }
        match header_text(headers, header::ORIGIN) {
            // "null": sent by privacy settings and sandboxed frames alike;
            // the CSRF token decides.
            None | Some("null") => FormOrigin::Ours,
            Some(origin) if origin.eq_ignore_ascii_case(&self.origin(headers)) => FormOrigin::Ours,
            // The browser's page was served by us over the other scheme's
            // default origin only if a proxy rewrote it: name it.
            Some(origin) => FormOrigin::Foreign(origin.to_owned()),
        }
    }

    /// The `Strict-Transport-Security` value to send, when the site is
    /// reached over HTTPS only.
    pub fn strict_transport_security(&self) -> Option<HeaderValue> {
        (self.tls || self.public_https).then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"))
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim)
}

/// The `Host` header (HTTP/1.1) or `:authority` (HTTP/2, which hyper puts
/// in the URI and axum copies into `Host`), if it looks like one.
fn request_host(headers: &HeaderMap) -> Option<&str> {
    let host = header_text(headers, header::HOST)?;
    let plausible = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    plausible.then_some(host)
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Names browsers treat as a secure context over plain HTTP.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn public_url_must_be_an_https_origin_unless_loopback() {
        assert!(Site::new(Some("https://keys.example.com"), false).is_ok());
        assert!(Site::new(Some("https://keys.example.com/"), false).is_ok());
        assert!(Site::new(Some("http://localhost:8420"), false).is_ok());
        assert!(Site::new(Some("http://127.0.0.1:8420"), false).is_ok());
        assert!(Site::new(Some("http://[::1]:8420"), false).is_ok());
        assert!(matches!(Site::new(Some("http://keys.example.com"), false), Err(SiteError::Insecure(_))));
        assert!(matches!(Site::new(Some("http://10.0.0.5:8420"), false), Err(SiteError::Insecure(_))));
        assert!(matches!(Site::new(Some("https://keys.example.com/keyward"), false), Err(SiteError::NotAnOrigin(_))));
        assert!(matches!(Site::new(Some("https://u:p@keys.example.com"), false), Err(SiteError::NotAnOrigin(_))));
        assert!(matches!(Site::new(Some("keys.example.com"), false), Err(SiteError::NotAUrl(_))));
        assert!(matches!(Site::new(Some("ftp://keys.example.com"), false), Err(SiteError::NotAUrl(_))));
        assert_eq!(Site::new(Some(""), false).unwrap().public_origin(), None);
    }

    #[test]
    fn links_use_the_public_origin_else_the_address_the_browser_used() {
        let configured = Site::new(Some("https://Keys.Example.com:443/"), false).unwrap();
        assert_eq!(configured.origin(&headers(&[("host", "10.0.0.5:8420")])), "https://keys.example.com");
        let plain = Site::new(None, false).unwrap();
        assert_eq!(plain.origin(&headers(&[("host", "10.0.0.5:8420")])), "http://10.0.0.5:8420");
        let tls = Site::new(None, true).unwrap();
        assert_eq!(tls.origin(&headers(&[("host", "keys.internal:8443")])), "https://keys.internal:8443");
        assert_eq!(plain.origin(&headers(&[("host", "evil\"><script>")])), "http://127.0.0.1:8420");
    }

    #[test]
    fn only_loopback_names_are_secure_over_plain_http() {
        let plain = Site::new(None, false).unwrap();
        for host in ["127.0.0.1:8420", "localhost:8420", "app.localhost", "[::1]:8420", "127.9.9.9"] {
            assert!(plain.secure_context(&headers(&[("host", host)])), "{host}");
        }
        for host in ["10.0.0.5:8420", "server:8420", "0.0.0.0:8420", "localhost.example.com"] {
            assert!(!plain.secure_context(&headers(&[("host", host)])), "{host}");
        }
        assert!(plain.secure_context(&HeaderMap::new()), "no Host: nothing to judge by");
        assert!(Site::new(None, true).unwrap().secure_context(&headers(&[("host", "server")])));
        let proxied = Site::new(Some("https://keys.example.com"), false).unwrap();
        assert!(proxied.secure_context(&headers(&[("host", "127.0.0.1:8420")])));
    }

    #[test]
    fn forms_from_other_sites_are_named() {
        let site = Site::new(Some("https://keys.example.com"), false).unwrap();
        let ours = headers(&[("origin", "https://keys.example.com"), ("sec-fetch-site", "same-origin")]);
        assert_eq!(site.form_origin(&ours), FormOrigin::Ours);
        assert_eq!(site.form_origin(&headers(&[("origin", "null")])), FormOrigin::Ours);
        assert_eq!(site.form_origin(&HeaderMap::new()), FormOrigin::Ours);
        let foreign = headers(&[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(site.form_origin(&foreign), FormOrigin::Foreign("https://evil.example".into()));
        let sibling = headers(&[("origin", "https://other.example.com"), ("sec-fetch-site", "same-site")]);
        assert!(matches!(site.form_origin(&sibling), FormOrigin::Foreign(_)));
        // A proxy that forgot public_url: the browser's origin is not ours.
        let unconfigured = Site::new(None, false).unwrap();
        let proxied = headers(&[("origin", "https://keys.example.com"), ("host", "127.0.0.1:8420")]);
        assert!(matches!(unconfigured.form_origin(&proxied), FormOrigin::Foreign(_)));
    }

    #[test]
    fn strict_transport_security_only_when_reached_over_https() {
        assert!(Site::new(None, false).unwrap().strict_transport_security().is_none());
        assert!(Site::new(None, true).unwrap().strict_transport_security().is_some());
        assert!(Site::new(Some("https://k.example"), false).unwrap().strict_transport_security().is_some());
    }
}
