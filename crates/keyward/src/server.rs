//! `keyward serve`, `init` and `migrate`: open the configured store, apply
//! migrations, bootstrap the first admin token, run the HTTP server.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keyward_core::webhook::MasterKey;
use keyward_core::{OsRng, SystemClock, TokenPrefix};
use keyward_engine::{Engine, EngineConfig, Issued};
use keyward_server::tls::Certificates;
use keyward_server::{router_with, serve_tls, serve_with, AppState, ServeOptions, Site};
use keyward_store::Store;
use keyward_store_postgres::PostgresStore;
use keyward_store_sqlite::SqliteStore;
use keyward_webhooks::{Dispatcher, RetryPolicy};

use crate::config::ServerConfig;
use crate::datadir::{self, StoreLock};
use crate::error::CliError;

/// The store a configuration names.
pub enum Location {
    Postgres(String),
    /// An SQLite database: a `sqlite:` URL (else the data directory's
    /// `keyward.db`), and its file (`None` in memory).
    Sqlite {
        url: Option<String>,
        file: Option<PathBuf>,
    },
}

impl Location {
    pub fn of(config: &ServerConfig) -> Result<Location, CliError> {
        match config.database_url.as_deref() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_owned()))
            }
            Some(url) if url.starts_with("sqlite:") => {
                let file = keyward_store_sqlite::url_file(url)
                    .map_err(|e| CliError::Usage(format!("invalid database_url: {e}")))?;
                Ok(Location::Sqlite { url: Some(url.to_owned()), file })
            }
            Some(_) => {
                Err(CliError::Usage("database_url must start with postgres://, postgresql:// or sqlite:".into()))
            }
            None => Ok(Location::Sqlite { url: None, file: Some(config.data_dir.join("keyward.db")) }),
        }
    }
}

/// Opens the store the configuration names and migrates it. An embedded
/// database comes with its lock, to be held for as long as the store is used;
/// several processes on one PostgreSQL database are legitimate, so that
/// needs none.
pub async fn open_store(config: &ServerConfig) -> Result<(Arc<dyn Store>, Option<StoreLock>), CliError> {
    let (store, lock): (Arc<dyn Store>, _) = match Location::of(config)? {
        Location::Postgres(url) => (
            Arc::new(
                PostgresStore::connect_limited(&url, postgres_limits(config))
                    .await
                    .map_err(|e| CliError::Store(format!("cannot connect to PostgreSQL: {e}")))?,
            ),
            None,
        ),
        Location::Sqlite { url, file } => {
            if url.is_none() {
                datadir::prepare_dir(&config.data_dir)?;
            }
            let lock = match &file {
                Some(file) => {
                    let subject = if url.is_none() { config.data_dir.as_path() } else { file.as_path() };
                    let lock = StoreLock::acquire(file, subject)?;
                    datadir::prepare_database_file(file)?;
                    Some(lock)
                }
                None => None,
            };
            (Arc::new(open_sqlite(url.as_deref(), file.as_deref()).await?), lock)
        }
    };
    store.migrate().await.map_err(|e| CliError::Store(format!("migrations failed: {e}")))?;
    Ok((store, lock))
}

/// The database waits, already checked by [`ServerConfig::check`].
fn postgres_limits(config: &ServerConfig) -> keyward_store_postgres::Limits {
    keyward_store_postgres::Limits {
        statement_timeout: Duration::from_millis(config.database_statement_timeout_ms),
        acquire_timeout: Duration::from_millis(config.database_acquire_timeout_ms),
        ..keyward_store_postgres::Limits::default()
    }
}

pub async fn open_sqlite(url: Option<&str>, file: Option<&Path>) -> Result<SqliteStore, CliError> {
    match (url, file) {
        (Some(url), _) => {
            SqliteStore::connect(url).await.map_err(|e| CliError::Store(format!("cannot open SQLite database: {e}")))
        }
        (None, Some(path)) => {
            SqliteStore::open(path).await.map_err(|e| CliError::Store(format!("cannot open {}: {e}", path.display())))
        }
        (None, None) => Err(CliError::Usage("no database configured".into())),
    }
}

/// The master key that seals webhook secrets: configured, or (for the
/// embedded store) `master.key` in the data directory, created on first use.
fn master_key(config: &ServerConfig) -> Result<Option<MasterKey>, CliError> {
    if let Some(text) = &config.master_key {
        return MasterKey::from_hex(&text.0).map(Some).map_err(|e| CliError::Usage(format!("master_key: {e}")));
    }
    if config.database_url.is_some() {
        return Ok(None);
    }
    let path = config.data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            MasterKey::from_hex(&text).map(Some).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let (key, text) = MasterKey::generate(&OsRng).map_err(|e| CliError::Store(e.to_string()))?;
            write_new_private_file(&path, format!("{}\n", &*text).as_bytes())
                .map_err(|e| CliError::Store(format!("cannot create {}: {e}", path.display())))?;
            tracing::info!(path = %path.display(), "created the master key that seals webhook secrets");
            Ok(Some(key))
        }
        Err(error) => Err(CliError::Store(format!("cannot read {}: {error}", path.display()))),
    }
}

/// Creates `path` (mode 0600) holding `contents`, all at once: the bytes are
/// written and synced under a temporary name, then linked into place, which
/// fails if `path` exists. A crash midway leaves no empty or partial file
/// at `path` to be mistaken for a key on the next start.
fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("partial");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
    let placed =
        file.write_all(contents).and_then(|()| file.sync_all()).and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    placed
}

fn engine(
    config: &ServerConfig,
    store: Arc<dyn Store>,
    master_key: Option<MasterKey>,
) -> Result<Arc<Engine>, CliError> {
    let prefix = TokenPrefix::new(&config.token_prefix)
        .map_err(|e| CliError::Usage(format!("token_prefix {:?}: {e}", config.token_prefix)))?;
    if !(60..=30 * 24 * 3600).contains(&config.session_lifetime_seconds) {
        return Err(CliError::Usage(format!(
            "session_lifetime_seconds {} must be between 60 and 2592000 (30 days)",
            config.session_lifetime_seconds
        )));
    }
    let leeway = Duration::from_secs(config.expiry_leeway_seconds);
    if leeway > keyward_engine::MAX_EXPIRY_LEEWAY {
        return Err(CliError::Usage(format!(
            "expiry_leeway_seconds {} must be at most {}",
            config.expiry_leeway_seconds,
            keyward_engine::MAX_EXPIRY_LEEWAY.as_secs()
        )));
    }
    if config.lifecycle_interval_seconds == 0 {
        return Err(CliError::Usage("lifecycle_interval_seconds must be at least 1".into()));
    }
    let engine_config = EngineConfig {
        default_prefix: prefix,
        cache_capacity: config.cache_capacity,
        negative_cache_ttl: Duration::from_millis(config.negative_cache_ttl_ms),
        open_signup: config.open_signup,
        session_lifetime: Duration::from_secs(config.session_lifetime_seconds),
        master_key,
        expiry_leeway: leeway,
        store_lookup_budget: Duration::from_millis(config.verify_store_budget_ms),
        store_lookup_concurrency: config.verify_store_concurrency,
        webhook_egress: config.webhook_egress().map_err(|e| CliError::Usage(e.to_string()))?,
        token_spraying_threshold: config.token_spraying_threshold,
        ..EngineConfig::default()
    };
    Ok(Arc::new(Engine::new(store, Arc::new(SystemClock), Arc::new(OsRng), engine_config)))
}

/// The token file is created before the bootstrap commits, so a token is
/// never minted that cannot be delivered; it is removed again if no token
/// was minted. On an initialized store nothing is minted, so the file a
/// first start wrote is expected to be there, and a restart (a systemd unit
/// carrying the setting) must not trip over it.
async fn bootstrap(engine: &Engine, config: &ServerConfig) -> Result<bool, CliError> {
    let Some(path) = &config.admin_token_file else {
        return match engine.bootstrap().await? {
            Some(issued) => {
                announce(&issued);
                Ok(true)
            }
            None => Ok(false),
        };
    };
    if engine.load().await? {
        leave_token_file(path);
        return Ok(false);
    }
    let mut file = match create_secret_file(path) {
        Ok(file) => file,
        // Another instance on a shared database may have just bootstrapped.
        Err(_) if path.exists() && engine.load().await? => {
            leave_token_file(path);
            return Ok(false);
        }
        Err(error) => return Err(error),
    };
    match engine.bootstrap().await {
        Ok(Some(issued)) => {
            write_secret(&mut file, path, &issued.secret)?;
            crate::notice::info(
                &format!("created the first admin token and wrote it to {} (mode 0600).", path.display()),
                &[],
            );
            Ok(true)
        }
        Ok(None) => {
            drop(file);
            let _ = std::fs::remove_file(path);
            Ok(false)
        }
        Err(error) => {
            drop(file);
            let _ = std::fs::remove_file(path);
            Err(error.into())
        }
    }
}

fn leave_token_file(path: &Path) {
    if path.exists() {
        tracing::info!(path = %path.display(), "the store is already initialized; the admin token file is left as it is");
    }
}

/// Writes a secret to a file made by [`create_secret_file`], durably.
fn write_secret(file: &mut std::fs::File, path: &Path, secret: &keyward_core::SecretToken) -> Result<(), CliError> {
    let written = file.write_all(format!("{}\n", secret.expose()).as_bytes()).and_then(|()| file.sync_all());
    written.map_err(|e| CliError::Store(format!("cannot write {}: {e}", path.display())))
}

fn create_secret_file(path: &Path) -> Result<std::fs::File, CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Usage(format!(
                "admin token file {} already exists but this is a fresh install: it is never overwritten; \
                 remove it or choose another path",
                path.display()
            ))
        } else {
            CliError::Usage(format!("cannot create admin token file {}: {e}", path.display()))
        }
    })
}

/// Prints the first admin token once, to the terminal. Never through the
/// logger. When stdout is piped, the token goes alone on stdout so a script
/// can capture it, and the explanation to stderr.
fn announce(issued: &Issued) {
    let secret = issued.secret.expose();
    if std::io::stdout().is_terminal() {
        println!(
            "\nKeyward created its first admin token. It is shown this once and stored only as a digest:\n\n    {secret}\n\n\
             Keep it in a secret store. Use it as KEYWARD_TOKEN for the CLI or as `Authorization: Bearer <token>`.\n"
        );
    } else {
        crate::notice::info("created the first admin token; it is printed once on standard output.", &[]);
        println!("{secret}");
    }
    let _ = std::io::stdout().flush();
}

/// `keyward init`
pub async fn init(config: &ServerConfig) -> Result<(), CliError> {
    let (store, _lock) = open_store(config).await?;
    let engine = engine(config, store, None)?;
    if !bootstrap(&engine, config).await? {
        eprintln!("keyward: already initialized; no new admin token was created.");
    }
    Ok(())
}

/// `keyward admin recover`: a new admin token, minted with the store in
/// hand and printed once as `init` prints the first.
pub async fn recover(config: &ServerConfig, organization: Option<&str>) -> Result<(), CliError> {
    if let Some(id) = organization {
        if !keyward_core::id::looks_like(keyward_core::id::IdKind::Organization, id) {
            return Err(CliError::Usage(format!("--organization: {id:?} is not an organization id (org_…)")));
        }
    }
    // A mistyped data directory must not become a new, empty store.
    if let Location::Sqlite { file: Some(file), .. } = Location::of(config)? {
        if !file.exists() {
            return Err(CliError::Usage(format!(
                "no Keyward database at {}: give the data directory (or database URL) `keyward serve` uses",
                file.display()
            )));
        }
    }
    let (store, _lock) = open_store(config).await?;
    let engine = engine(config, store, None)?;
    if !engine.load().await? {
        return Err(CliError::Usage("this store is not initialized: run `keyward init` (or `keyward serve`)".into()));
    }
    // Written like the first admin token when a file is configured: created
    // new, mode 0600, never over an existing one (which holds the lost token).
    let mut file = config.admin_token_file.as_deref().map(create_secret_file).transpose()?;
    let minted = engine.recover_admin(organization).await;
    if let (Err(_), Some(path)) = (&minted, config.admin_token_file.as_deref()) {
        let _ = std::fs::remove_file(path);
    }
    let issued = minted.map_err(|error| match error {
        // Exit 4, as for any id that names nothing.
        keyward_engine::EngineError::NotFound(what) => {
            CliError::Api { status: 404, code: "not_found".into(), detail: format!("no such {what} in this store") }
        }
        other => other.into(),
    })?;
    match (&mut file, config.admin_token_file.as_deref()) {
        (Some(file), Some(path)) => {
            write_secret(file, path, &issued.secret)?;
            crate::notice::info(
                &format!(
                    "minted admin token {} for {} (audited as admin.recovered) and wrote it to {} (mode 0600).",
                    issued.record.id,
                    issued.record.org_id,
                    path.display()
                ),
                &[],
            );
        }
        _ => announce_recovered(&issued),
    }
    Ok(())
}

fn announce_recovered(issued: &Issued) {
    let secret = issued.secret.expose();
    let (id, org) = (&issued.record.id, &issued.record.org_id);
    if std::io::stdout().is_terminal() {
        println!(
            "\nKeyward minted a new admin token ({id}) for {org}, audited as admin.recovered. It is shown this once:\n\n    \
             {secret}\n\nRevoke the admin tokens that were lost, and keep this one in a secret store.\n"
        );
    } else {
        crate::notice::info(
            &format!("minted admin token {id} for {org} (audited as admin.recovered); it is printed once on standard output."),
            &[],
        );
        println!("{secret}");
    }
    let _ = std::io::stdout().flush();
}

/// `keyward migrate`
pub async fn migrate(config: &ServerConfig) -> Result<(), CliError> {
    let (_store, _lock) = open_store(config).await?;
    eprintln!("keyward: migrations are up to date.");
    Ok(())
}

/// `keyward serve`
pub async fn run(config: &ServerConfig) -> Result<(), CliError> {
    let trusted_proxies = trusted_proxies(config)?;
    // Read before anything else happens (the store opened, a first admin
    // token made), so a bad certificate is the only line printed.
    let certificates = certificates(config)?;
    let site = Site::new(config.public_url.as_deref(), certificates.is_some())
        .map_err(|e| CliError::Usage(format!("{e} (KEYWARD_PUBLIC_URL)")))?;
    survive_file_size_limits();
    // Held until the process ends: the embedded store has one server. Taken
    // before anything is logged, so a refusal is the only line printed.
    let (store, _lock) = open_store(config).await?;
    let options = serve_options(config, raise_descriptor_limit());
    let master_key = master_key(config)?;
    let engine = engine(config, store.clone(), master_key.clone())?;
    // Bootstrapping also loads which keyspace is the management one.
    bootstrap(&engine, config).await?;
    // With PostgreSQL, other instances may change tokens this one caches.
    if engine
        .watch_shared_changes()
        .await
        .map_err(|e| CliError::Store(format!("cannot watch for token changes: {e}")))?
    {
        tracing::info!("watching the store for token changes made by other instances");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr().map_err(|e| CliError::Usage(e.to_string()))?;
    let stopping = shutdown_signal();
    greet(&engine, &site, address, certificates.is_some()).await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (flusher, scheduler) = spawn_upkeep(&engine, config, &stopped);
    let dispatcher = spawn_dispatcher(config, store, master_key, &stopped)?;
    let mut state = AppState::new(engine).with_trusted_proxies(trusted_proxies).with_site(site);
    if let Some(certificates) = &certificates {
        state = state.with_certificates(Arc::clone(certificates));
    }
    let app = router_with(state, keyward_web::pages());
    let served = match certificates {
        Some(certificates) => {
            let tls = certificates.server_config().map_err(|e| CliError::Usage(e.to_string()))?;
            tokio::spawn(reload_on_hangup(Arc::clone(&certificates), until_stopped(stopped.clone())));
            tokio::spawn(Arc::clone(&certificates).watch(CERTIFICATE_POLL, until_stopped(stopped.clone())));
            serve_tls(listener, app, stopping, options, tls).await
        }
        None => serve_with(listener, app, stopping, options).await,
    };
    let _ = stop.send(true);
    // The flusher writes the last usage counts before we exit.
    let _ = flusher.await;
    let _ = scheduler.await;
    if let Some(dispatcher) = dispatcher {
        let _ = dispatcher.await;
    }
    tracing::info!("keyward stopped");
    served.map_err(|e| CliError::Store(format!("server error: {e}")))
}

/// The proxies whose `X-Forwarded-For` is believed, from the comma-separated setting.
fn trusted_proxies(config: &ServerConfig) -> Result<Vec<keyward_core::ip::IpNet>, CliError> {
    let proxies: Vec<&str> = config.trusted_proxies.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    keyward_core::ip::parse_list(&proxies).map_err(|e| CliError::Usage(format!("invalid trusted_proxies: {e}")))
}

/// The TLS certificate and key, when both files are configured.
fn certificates(config: &ServerConfig) -> Result<Option<Arc<Certificates>>, CliError> {
    match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(certificate), Some(key)) => {
            Ok(Some(Certificates::load(certificate, key).map_err(|e| CliError::Usage(e.to_string()))?))
        }
        _ => Ok(None),
    }
}

/// The lines an operator reads at start: where it listens, whether that is
/// exposed, and on a fresh install one setup link for the first owner.
async fn greet(engine: &Engine, site: &Site, address: std::net::SocketAddr, tls: bool) {
    let origin = printed_origin(site, address);
    let scheme = if tls { "https" } else { "http" };
    crate::notice::info(
        &format!("listening on {scheme}://{address} (API docs at {origin}/docs)"),
        &[("address", &address.to_string())],
    );
    if let Some(warning) = exposure_warning(site, address) {
        crate::notice::warn(&warning);
    }
    // A fresh install: one link for the first owner, on the terminal only.
    match engine.open_setup().await {
        Ok(Some(setup)) => crate::notice::link(
            "set up your owner account (link valid 15 minutes, single use):",
            "setup_url",
            &format!("{origin}/setup?code={}", setup.code.expose()),
        ),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "cannot offer a setup link"),
    }
}

/// The usage flusher and the lifecycle scheduler, both ending when `stopped` turns true.
fn spawn_upkeep(
    engine: &Arc<Engine>,
    config: &ServerConfig,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let flusher = {
        let engine = engine.clone();
        let interval = Duration::from_millis(config.usage_flush_interval_ms.max(10));
        let stopping = until_stopped(stopped.clone());
        tokio::spawn(async move { engine.run_usage_flusher(interval, stopping).await })
    };
    let scheduler = {
        let engine = engine.clone();
        let interval = Duration::from_secs(config.lifecycle_interval_seconds);
        let stopping = until_stopped(stopped.clone());
        tokio::spawn(async move { engine.run_lifecycle_scheduler(interval, stopping).await })
    };
    (flusher, scheduler)
}

/// The webhook dispatcher, which needs the master key that seals endpoint
/// secrets; without one webhooks are off.
fn spawn_dispatcher(
    config: &ServerConfig,
    store: Arc<dyn Store>,
    master_key: Option<MasterKey>,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, CliError> {
    let Some(key) = master_key else {
        tracing::warn!("webhooks are off: no master key (set KEYWARD_MASTER_KEY_FILE)");
        return Ok(None);
    };
    let egress = config.webhook_egress().map_err(|e| CliError::Usage(e.to_string()))?;
    if !egress.allowed().is_empty() {
        let opened: Vec<String> = egress.allowed().iter().map(ToString::to_string).collect();
        tracing::info!(
            networks = %opened.join(","),
            "webhooks may reach these otherwise refused networks (webhook_allowed_networks)"
        );
    }
    let dispatcher = Dispatcher::new(store, Arc::new(SystemClock), key, RetryPolicy::default(), egress)
        .map_err(|e| CliError::Usage(format!("cannot start the webhook dispatcher: {e}")))?;
    Ok(Some(tokio::spawn(Arc::new(dispatcher).run(Duration::from_secs(1), until_stopped(stopped.clone())))))
}

/// A write past the file-size limit (`ulimit -f`, systemd's `LimitFSIZE=`)
/// raises `SIGXFSZ`, which kills the process by default: a full disk by
/// another name would then take the whole server down, cached
/// verifications included. Caught, the write fails with `EFBIG` and is
/// answered like any failed write, as PostgreSQL does too.
fn survive_file_size_limits() {
    let file_size_limit = tokio::signal::unix::SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw());
    match tokio::signal::unix::signal(file_size_limit) {
        // The handler stays installed after the stream is dropped.
        Ok(_stream) => {}
        Err(error) => tracing::warn!(%error, "cannot catch SIGXFSZ; a file-size limit would end the process"),
    }
}

/// Descriptors kept back from the connection cap: the store's pool, the
/// SQLite files, webhook deliveries, the listener, stdio.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Raises the soft limit on open files to the hard limit: each connection
/// holds one, and distributions' default soft limit (often 1024) is far
/// below what a server needs. Returns the limit in force, if known.
fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut current = limit.current;
    if limit.current.is_some() && limit.current != limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => current = limit.maximum,
            Err(error) => tracing::warn!(%error, "cannot raise the open-file limit to its hard limit"),
        }
    }
    match current {
        Some(files) => tracing::info!(open_files = files, "open-file limit"),
        None => tracing::info!("open-file limit: unlimited"),
    }
    current
}

/// The connection limits, with the cap lowered to what the open-file
/// limit allows.
fn serve_options(config: &ServerConfig, open_files: Option<u64>) -> ServeOptions {
    let mut max_connections = config.max_connections;
    if let Some(files) = open_files {
        let allowed = usize::try_from(files.saturating_sub(RESERVED_DESCRIPTORS).max(1)).unwrap_or(usize::MAX);
        if max_connections > allowed {
            tracing::warn!(
                max_connections,
                open_files = files,
                lowered_to = allowed,
                "max_connections exceeds what the open-file limit allows; lowered (raise the hard limit, e.g. LimitNOFILE= in systemd)"
            );
            max_connections = allowed;
        }
    }
    ServeOptions {
        header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds),
        request_body_timeout: Duration::from_secs(config.request_body_timeout_seconds),
        idle_timeout: Duration::from_secs(config.idle_timeout_seconds),
        max_connections,
    }
}

/// How often the certificate files are looked at for a renewal.
const CERTIFICATE_POLL: Duration = Duration::from_secs(5);

/// The origin printed in links: the configured public one, else the
/// listening address, with a wildcard address replaced by one a browser
/// can open (the host's name when serving TLS, whose certificate names it;
/// loopback otherwise, since plain HTTP works in a browser only there).
fn printed_origin(site: &Site, address: std::net::SocketAddr) -> String {
    if let Some(origin) = site.public_origin() {
        return origin.to_owned();
    }
    let scheme = if site.serves_tls() { "https" } else { "http" };
    let port = address.port();
    if !address.ip().is_unspecified() {
        return format!("{scheme}://{address}");
    }
    if site.serves_tls() {
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        if !host.is_empty() {
            return format!("https://{host}:{port}");
        }
    }
    format!("{scheme}://127.0.0.1:{port}")
}

/// What to tell an operator who listens beyond loopback over plain HTTP
/// with no TLS proxy declared: browsers elsewhere cannot sign in, and
/// tokens cross the network readable.
fn exposure_warning(site: &Site, address: std::net::SocketAddr) -> Option<String> {
    if address.ip().is_loopback()
        || site.serves_tls()
        || site.public_origin().is_some_and(|o| o.starts_with("https://"))
    {
        return None;
    }
    Some(format!(
        "listening on {address} over plain HTTP: tokens and passwords cross the network unencrypted, and browsers \
         on other machines refuse the sign-in cookies. Serve TLS (tls_cert_file and tls_key_file), or put Keyward \
         behind an HTTPS reverse proxy and set public_url=https://… (see docs/operations.md, \"TLS and public URL\")"
    ))
}

/// Reloads the certificate on every SIGHUP until `stopping` resolves.
async fn reload_on_hangup(certificates: Arc<Certificates>, stopping: impl std::future::Future<Output = ()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; certificate files are still watched for changes");
        return;
    };
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            received = hangups.recv() => if received.is_none() { return },
            () = &mut stopping => return,
        }
        match certificates.reload() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
            Err(error) => {
                tracing::error!(%error, "SIGHUP: TLS certificate not reloaded; still presenting the previous one")
            }
        }
    }
}

/// Resolves once the server has begun to stop: what background tasks wait on.
async fn until_stopped(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Registers for SIGINT and SIGTERM at once, not when first polled: the
/// server announces it is listening before `serve` polls this, and a
/// SIGTERM in between (a supervisor stopping a fresh start) would otherwise
/// kill it outright, skipping the last usage flush.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |registered: std::io::Result<tokio::signal::unix::Signal>| async move {
            match registered {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
        tracing::info!("shutting down: finishing in-flight requests and flushing usage");
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_private_file_is_created_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        write_new_private_file(&path, b"abc\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_new_private_file(&path, b"other\n").is_err(), "an existing file is never replaced");
        assert_eq!(std::fs::read(&path).unwrap(), b"abc\n");
        assert!(!path.with_extension("partial").exists(), "no temporary file is left behind");
    }
}
