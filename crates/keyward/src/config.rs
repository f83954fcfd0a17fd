//! Server configuration, layered: built-in defaults < TOML file (`--config`
//! or `KEYWARD_CONFIG`) < `KEYWARD_*` environment < `KEYWARD_*_FILE` (a file
//! holding the value, for secrets) < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Environment variables the client verbs read; not server settings.
const CLIENT_VARIABLES: &[&str] = &["ADDR", "TOKEN", "TOKEN_FILE", "CONFIG", "TEST_DATABASE_URL"];

/// Every server setting, with its default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default: expose deliberately.
    pub listen: SocketAddr,
    /// Where the SQLite database lives when no `database_url` is given.
    pub data_dir: PathBuf,
    /// `postgres://…` (or `sqlite://…`). Overrides `data_dir`.
    pub database_url: Option<String>,
    /// Write the first admin token to this new file (mode 0600) instead of
    /// the terminal. Once the store is initialized the file is left alone,
    /// so a restart with the same setting works.
    pub admin_token_file: Option<PathBuf>,
    /// Prefix of tokens in the management keyspace and of keyspaces created without one.
    pub token_prefix: String,
    /// Token records kept in memory for verification.
    pub cache_capacity: usize,
    /// How long an unknown token is remembered as unknown, in milliseconds.
    pub negative_cache_ttl_ms: u64,
    /// How often usage counts are written to the store, in milliseconds.
    pub usage_flush_interval_ms: u64,
    /// How long past its expiry a token still verifies, in seconds (0 to
    /// 300), to absorb clock skew; 0 means expiries are exact.
    pub expiry_leeway_seconds: u64,
    /// How often the lifecycle scheduler looks for expiry warnings,
    /// expiries, inactive tokens and rotations falling due, in seconds.
    pub lifecycle_interval_seconds: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// Seconds a client may take to send a request's head once it has begun.
    pub header_read_timeout_seconds: u64,
    /// Seconds a request body may stall before the request is answered 408.
    pub request_body_timeout_seconds: u64,
    /// Seconds a connection may sit without a request before it is closed.
    pub idle_timeout_seconds: u64,
    /// Connections served at once; more wait to be accepted. Lowered to
    /// what the file-descriptor limit allows.
    pub max_connections: usize,
    /// A tracing filter such as `info` or `keyward=debug` (`RUST_LOG` wins).
    pub log_level: String,
    /// Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is
    /// believed; empty: the TCP peer is the client.
    pub trusted_proxies: String,
    /// The origin people reach Keyward at, such as
    /// `https://keys.example.com` behind a TLS reverse proxy: used in every
    /// printed or shown link and to check where forms come from. Must be
    /// `https://` unless its host is loopback.
    pub public_url: Option<String>,
    /// PEM certificate chain (leaf first): with `tls_key_file`, Keyward
    /// serves HTTPS itself (TLS 1.2+, HTTP/2). Reloaded on SIGHUP and when
    /// either file changes.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Comma-separated CIDRs that webhooks may reach although they are
    /// loopback, private, link-local or otherwise internal (refused by
    /// default); e.g. `127.0.0.1/32` for a receiver on this host.
    pub webhook_allowed_networks: String,
    /// Whether anyone may sign up and found their own organization; off:
    /// people join by invitation only.
    pub open_signup: bool,
    /// How long a dashboard session lasts after sign-in, in seconds.
    pub session_lifetime_seconds: u64,
    /// 64 hex characters sealing webhook signing secrets at rest; best given
    /// as `KEYWARD_MASTER_KEY_FILE`. Unset with a data directory: Keyward
    /// creates `master.key` there (mode 0600); unset with a database URL:
    /// webhooks are off.
    pub master_key: Option<SecretSetting>,
    /// PostgreSQL only: no query may run longer than this, in
    /// milliseconds (a lock wait included), so a stalled database cannot
    /// hold pooled connections hostage.
    pub database_statement_timeout_ms: u64,
    /// PostgreSQL only: how long a request waits for a free pooled
    /// connection before answering 503, in milliseconds.
    pub database_acquire_timeout_ms: u64,
    /// How long a verification of an uncached token may wait for the store
    /// before answering 503 with Retry-After, in milliseconds. Cached
    /// tokens never wait on the store.
    pub verify_store_budget_ms: u64,
    /// How many verifications of uncached tokens may query the store at
    /// once; the rest queue within their budget, leaving connections for
    /// everything else.
    pub verify_store_concurrency: usize,
    /// Unknown tokens one verifying caller may be shown from one source in
    /// a minute before that minute is audited (and sent to webhooks) as
    /// `security.token_spraying`; 0 turns the record off.
    pub token_spraying_threshold: u64,
}

/// A setting that must never be printed: `Debug` shows it redacted.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct SecretSetting(pub String);

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8420)),
            data_dir: PathBuf::from("keyward-data"),
            database_url: None,
            admin_token_file: None,
            token_prefix: "kw".into(),
            cache_capacity: 250_000,
            negative_cache_ttl_ms: 2_000,
            usage_flush_interval_ms: 1_000,
            expiry_leeway_seconds: 0,
            lifecycle_interval_seconds: 60,
            log_format: "text".into(),
            header_read_timeout_seconds: 10,
            request_body_timeout_seconds: 30,
            idle_timeout_seconds: 60,
            max_connections: 10_000,
            log_level: "info".into(),
            trusted_proxies: String::new(),
            public_url: None,
            tls_cert_file: None,
            tls_key_file: None,
            webhook_allowed_networks: String::new(),
            open_signup: false,
            session_lifetime_seconds: 12 * 3600,
            master_key: None,
            database_statement_timeout_ms: 5_000,
            database_acquire_timeout_ms: 3_000,
            verify_store_budget_ms: 1_000,
            verify_store_concurrency: 8,
            token_spraying_threshold: keyward_engine::DEFAULT_TOKEN_SPRAYING_THRESHOLD,
        }
    }
}

const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "admin_token_file",
    "token_prefix",
    "cache_capacity",
    "negative_cache_ttl_ms",
    "usage_flush_interval_ms",
    "expiry_leeway_seconds",
    "lifecycle_interval_seconds",
    "log_format",
    "header_read_timeout_seconds",
    "request_body_timeout_seconds",
    "idle_timeout_seconds",
    "max_connections",
    "log_level",
    "trusted_proxies",
    "public_url",
    "tls_cert_file",
    "tls_key_file",
    "webhook_allowed_networks",
    "open_signup",
    "session_lifetime_seconds",
    "master_key",
    "database_statement_timeout_ms",
    "database_acquire_timeout_ms",
    "verify_store_budget_ms",
    "verify_store_concurrency",
    "token_spraying_threshold",
];

/// Settings given as flags; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub admin_token_file: Option<PathBuf>,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("cannot read {variable} ({path}): {source}")]
    SecretFile { variable: String, path: String, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Loads the layered configuration. `environment` is passed in (rather than
/// read) so tests can run in parallel without touching the process's.
pub fn load(
    config_file: Option<&Path>,
    environment: &[(String, String)],
    flags: &FlagOverrides,
) -> Result<(ServerConfig, Vec<String>), ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
    if let Some(path) = config_file {
        if !path.exists() {
            return Err(ConfigError::MissingFile(path.to_owned()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let mut warnings = Vec::new();
    let mut from_files = Vec::new();
    for (name, value) in environment {
        let Some(key) = name.strip_prefix("KEYWARD_") else { continue };
        let lower = key.to_ascii_lowercase();
        if KEYS.contains(&lower.as_str()) {
            figment = figment.merge(Serialized::default(&lower, typed(&lower, value)));
        } else if let Some(base) = lower.strip_suffix("_file").filter(|base| KEYS.contains(base)) {
            let contents = std::fs::read_to_string(value).map_err(|source| ConfigError::SecretFile {
                variable: name.clone(),
                path: value.clone(),
                source,
            })?;
            from_files.push((base.to_owned(), contents.trim_end_matches(['\n', '\r']).to_owned()));
        } else if !CLIENT_VARIABLES.contains(&key) {
            warnings.push(format!("ignoring unknown environment variable {name}"));
        }
    }
    // A *_FILE variable beats its plain twin.
    for (key, value) in from_files {
        figment = figment.merge(Serialized::default(&key, value));
    }
    if let Some(listen) = flags.listen {
        figment = figment.merge(Serialized::default("listen", listen.to_string()));
    }
    if let Some(dir) = &flags.data_dir {
        figment = figment.merge(Serialized::default("data_dir", dir));
    }
    if let Some(url) = &flags.database_url {
        figment = figment.merge(Serialized::default("database_url", url));
    }
    if let Some(file) = &flags.admin_token_file {
        figment = figment.merge(Serialized::default("admin_token_file", file));
    }
    let mut config: ServerConfig = figment.extract().map_err(|error| ConfigError::Invalid(error.to_string()))?;
    config.check()?;
    if flags.data_dir.is_some() && flags.database_url.is_none() {
        // A data dir on the command line means "SQLite there", whatever lower layers said.
        config.database_url = None;
    }
    Ok((config, warnings))
}

/// Environment values are text; numbers and booleans must reach figment as
/// such, spelled the ways people write them (`true`, `1`, `yes`, any case).
/// Only those keys take booleans, so `1` stays a number everywhere else.
fn typed(key: &str, value: &str) -> figment::value::Value {
    if BOOLEAN_KEYS.contains(&key) {
        let flag = match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        };
        if let Some(flag) = flag {
            return figment::value::Value::from(flag);
        }
    }
    match value.parse::<u64>() {
        Ok(number) => figment::value::Value::from(number),
        Err(_) => figment::value::Value::from(value.to_owned()),
    }
}

const BOOLEAN_KEYS: &[&str] = &["open_signup"];

/// The accepted values of `log_format`.
pub const LOG_FORMATS: &[&str] = &["text", "json"];

impl ServerConfig {
    /// Refuses values that would otherwise be silently replaced by a default.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !LOG_FORMATS.contains(&self.log_format.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "log_format (KEYWARD_LOG_FORMAT) is {:?}; allowed values: {}",
                self.log_format,
                LOG_FORMATS.join(", ")
            )));
        }
        for (name, value) in [
            ("header_read_timeout_seconds", self.header_read_timeout_seconds),
            ("request_body_timeout_seconds", self.request_body_timeout_seconds),
            ("idle_timeout_seconds", self.idle_timeout_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "{name} ({}) is {value}; it must be between 1 and 3600 seconds",
                    env_name(name)
                )));
            }
        }
        for (name, value, most) in [
            ("database_statement_timeout_ms", self.database_statement_timeout_ms, 600_000),
            ("database_acquire_timeout_ms", self.database_acquire_timeout_ms, 600_000),
            ("verify_store_budget_ms", self.verify_store_budget_ms, 60_000),
        ] {
            if !(1..=most).contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "{name} ({}) is {value}; it must be between 1 and {most} milliseconds",
                    env_name(name)
                )));
            }
        }
        if !(1..=1024).contains(&self.verify_store_concurrency) {
            return Err(ConfigError::Invalid(format!(
                "verify_store_concurrency (KEYWARD_VERIFY_STORE_CONCURRENCY) is {}; it must be between 1 and 1024",
                self.verify_store_concurrency
            )));
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err(ConfigError::Invalid(
                    "tls_cert_file (KEYWARD_TLS_CERT_FILE) is set but tls_key_file (KEYWARD_TLS_KEY_FILE) is not; \
                     TLS needs both"
                        .into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "tls_key_file (KEYWARD_TLS_KEY_FILE) is set but tls_cert_file (KEYWARD_TLS_CERT_FILE) is not; \
                     TLS needs both"
                        .into(),
                ))
            }
            _ => {}
        }
        keyward_server::Site::new(self.public_url.as_deref(), self.tls_cert_file.is_some())
            .map_err(|error| ConfigError::Invalid(format!("{error} (KEYWARD_PUBLIC_URL)")))?;
        self.webhook_egress()?;
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections (KEYWARD_MAX_CONNECTIONS) must be at least 1".into()));
        }
        Ok(())
    }
}

impl ServerConfig {
    /// Where webhooks may go: the default rules with
    /// `webhook_allowed_networks` opened.
    pub fn webhook_egress(&self) -> Result<keyward_core::egress::EgressPolicy, ConfigError> {
        keyward_core::egress::EgressPolicy::parse(&self.webhook_allowed_networks).map_err(|error| {
            ConfigError::Invalid(format!(
                "webhook_allowed_networks (KEYWARD_WEBHOOK_ALLOWED_NETWORKS): {error}; give comma-separated CIDRs \
                 such as 127.0.0.1/32,10.20.0.0/16"
            ))
        })
    }
}

fn env_name(key: &str) -> String {
    format!("KEYWARD_{}", key.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_are_loopback_and_sqlite() {
        let (config, warnings) = load(None, &[], &FlagOverrides::default()).unwrap();
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8420");
        assert!(warnings.is_empty());
    }

    #[test]
    fn layers_apply_in_order_file_env_secret_file_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keyward.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ntoken_prefix = \"acme\"\ncache_capacity = 10\nlog_level = \"warn\"\n",
        )
        .unwrap();
        let secret = dir.path().join("db-url");
        std::fs::write(&secret, "postgres://from-file\n").unwrap();
        let environment = env(&[
            ("KEYWARD_TOKEN_PREFIX", "envp"),
            ("KEYWARD_CACHE_CAPACITY", "20"),
            ("KEYWARD_DATABASE_URL", "postgres://from-env"),
            ("KEYWARD_DATABASE_URL_FILE", secret.to_str().unwrap()),
            ("KEYWARD_TOKEN", "client setting, not a warning"),
            ("KEYWARD_LISTN", "typo"),
            ("PATH", "/usr/bin"),
        ]);
        let flags = FlagOverrides { listen: Some("127.0.0.1:9999".parse().unwrap()), ..FlagOverrides::default() };
        let (config, warnings) = load(Some(&file), &environment, &flags).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9999", "flags beat everything");
        assert_eq!(config.token_prefix, "envp", "environment beats the file");
        assert_eq!(config.cache_capacity, 20);
        assert_eq!(config.log_level, "warn", "the file beats defaults");
        assert_eq!(config.database_url.as_deref(), Some("postgres://from-file"), "*_FILE beats the plain variable");
        assert_eq!(warnings, vec!["ignoring unknown environment variable KEYWARD_LISTN".to_owned()]);
    }

    #[test]
    fn a_data_dir_flag_selects_sqlite_even_if_a_url_is_configured() {
        let environment = env(&[("KEYWARD_DATABASE_URL", "postgres://x")]);
        let flags = FlagOverrides { data_dir: Some("/tmp/k".into()), ..FlagOverrides::default() };
        let (config, _) = load(None, &environment, &flags).unwrap();
        assert_eq!(config.database_url, None);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/k"));
    }

    #[test]
    fn booleans_parse_as_people_write_them() {
        for (text, expected) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("Yes", true),
            ("false", false),
            ("0", false),
            ("no", false),
            ("NO", false),
        ] {
            let (config, _) = load(None, &env(&[("KEYWARD_OPEN_SIGNUP", text)]), &FlagOverrides::default()).unwrap();
            assert_eq!(config.open_signup, expected, "{text}");
        }
        let bad = load(None, &env(&[("KEYWARD_OPEN_SIGNUP", "maybe")]), &FlagOverrides::default());
        assert!(bad.unwrap_err().to_string().contains("open_signup"));
    }

    #[test]
    fn an_unknown_log_format_is_refused_naming_the_allowed_values() {
        let bad = load(None, &env(&[("KEYWARD_LOG_FORMAT", "yaml")]), &FlagOverrides::default());
        let message = bad.unwrap_err().to_string();
        assert!(message.contains("log_format") && message.contains("yaml"), "{message}");
        assert!(message.contains("text, json"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }

    #[test]
    fn database_waits_are_validated() {
        for (variable, value) in [
            ("KEYWARD_DATABASE_STATEMENT_TIMEOUT_MS", "0"),
            ("KEYWARD_DATABASE_ACQUIRE_TIMEOUT_MS", "600001"),
            ("KEYWARD_VERIFY_STORE_BUDGET_MS", "0"),
            ("KEYWARD_VERIFY_STORE_CONCURRENCY", "0"),
        ] {
            let bad = load(None, &env(&[(variable, value)]), &FlagOverrides::default());
            let message = bad.unwrap_err().to_string();
            assert!(message.contains(variable) && !message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn connection_limits_are_validated() {
        let (config, _) = load(None, &[], &FlagOverrides::default()).unwrap();
        assert_eq!(
            (config.header_read_timeout_seconds, config.request_body_timeout_seconds, config.idle_timeout_seconds),
            (10, 30, 60)
        );
        for (name, value) in [
            ("KEYWARD_HEADER_READ_TIMEOUT_SECONDS", "0"),
            ("KEYWARD_IDLE_TIMEOUT_SECONDS", "100000"),
            ("KEYWARD_MAX_CONNECTIONS", "0"),
        ] {
            let message = load(None, &env(&[(name, value)]), &FlagOverrides::default()).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn webhook_networks_are_opened_only_as_given_and_checked_at_start() {
        let (config, _) = load(None, &[], &FlagOverrides::default()).unwrap();
        assert!(config.webhook_egress().unwrap().allowed().is_empty(), "nothing internal is opened by default");
        let environment = env(&[("KEYWARD_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32, ::1,10.20.0.0/16")]);
        let (config, warnings) = load(None, &environment, &FlagOverrides::default()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let opened: Vec<String> = config.webhook_egress().unwrap().allowed().iter().map(ToString::to_string).collect();
        assert_eq!(opened, ["10.20.0.0/16", "127.0.0.1/32", "::1/128"]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keyward.toml");
        std::fs::write(&file, "webhook_allowed_networks = \"192.168.0.0/16\"\n").unwrap();
        let (config, _) = load(Some(&file), &[], &FlagOverrides::default()).unwrap();
        assert_eq!(config.webhook_egress().unwrap().allowed().len(), 1);
        for bad in ["localhost", "10.0.0.1/8", "127.0.0.1/33"] {
            let message = load(None, &env(&[("KEYWARD_WEBHOOK_ALLOWED_NETWORKS", bad)]), &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(message.contains("KEYWARD_WEBHOOK_ALLOWED_NETWORKS") && message.contains(bad), "{message}");
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn errors_are_precise() {
        let missing = load(Some(Path::new("/nonexistent/keyward.toml")), &[], &FlagOverrides::default());
        assert!(matches!(missing, Err(ConfigError::MissingFile(_))));
        let bad = load(None, &env(&[("KEYWARD_LISTEN", "not an address")]), &FlagOverrides::default());
        let message = bad.unwrap_err().to_string();
        assert!(message.contains("listen"), "{message}");
        let unreadable =
            load(None, &env(&[("KEYWARD_DATABASE_URL_FILE", "/nonexistent/secret")]), &FlagOverrides::default());
        assert!(matches!(unreadable, Err(ConfigError::SecretFile { .. })));
    }
}
