//! The client verbs: each calls the HTTP API and prints a table, key-value
//! lines or (with `--json`) the server's JSON.

mod audit;
mod keyspace;
mod login;
mod member;
mod names;
mod org;
mod output;
mod policy;
mod ready;
mod token;
mod verify;
mod webhook;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::{ClientArgs, Command, DEFAULT_ADDR};
use crate::credentials;
use crate::error::CliError;

/// Runs a client verb.
pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Token(command) => token::run(command).await,
        Command::Keyspace(command) => keyspace::run(command).await,
        Command::Org(command) => org::run(command).await,
        Command::Policy(command) => policy::run(command).await,
        Command::Member(command) => member::run(command).await,
        Command::ServiceAccount(command) => member::run_service_accounts(command).await,
        Command::Webhook(command) => webhook::run(command).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Login(args) => login::login(args).await,
        Command::Logout => login::logout(),
        Command::Whoami(args) => login::whoami(args).await,
        Command::Ready(args) => ready::run(args).await,
        Command::Serve(_)
        | Command::Init(_)
        | Command::Migrate(_)
        | Command::Backup(_)
        | Command::Admin(_)
        | Command::Completions(_)
        | Command::Man(_) => Err(CliError::Usage("not a client command".into())),
    }
}

/// An authenticated connection to a server.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    pub json: bool,
    field: Option<String>,
}

/// Where the address and token of a client verb came from.
pub struct Resolved {
    pub addr: String,
    pub token: String,
    /// The stored login's file, when the token came from it.
    pub from_login: Option<std::path::PathBuf>,
}

/// A stored login and the file it was read from.
pub type StoredLogin = (std::path::PathBuf, credentials::Credentials);

/// The stored login and its file, if there is one. Without HOME or
/// XDG_CONFIG_HOME (a service's environment) there is none.
pub fn stored_login() -> Result<Option<StoredLogin>, CliError> {
    let Ok(path) = credentials::path() else {
        return Ok(None);
    };
    Ok(credentials::load(&path)?.map(|login| (path, login)))
}

/// The address of a verb that sends no token: `--addr` or `KEYWARD_ADDR`,
/// else the stored login's, else the default.
pub fn resolve_addr(given: Option<&str>) -> Result<String, CliError> {
    let addr = match given {
        Some(addr) => credentials::normalize_addr(addr),
        None => match stored_login()? {
            Some((_, login)) => login.addr,
            None => DEFAULT_ADDR.to_owned(),
        },
    };
    check_addr(&addr)?;
    Ok(addr)
}

pub fn check_addr(addr: &str) -> Result<(), CliError> {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        Ok(())
    } else {
        Err(CliError::Usage(format!("--addr must start with http:// or https://, got {addr:?}")))
    }
}

/// Address and token by precedence: flags, then the environment, then the
/// stored login, which is used as a pair: its token goes only to its
/// address (naming another server without a token is refused rather than
/// handing it over), and a token given otherwise never goes to its address.
pub fn resolve(args: &ClientArgs) -> Result<Resolved, CliError> {
    resolve_from(args, stored_login)
}

/// [`resolve`], reading the stored login through `stored` only when needed.
fn resolve_from(
    args: &ClientArgs,
    stored: impl FnOnce() -> Result<Option<StoredLogin>, CliError>,
) -> Result<Resolved, CliError> {
    let given = match (&args.token, &args.token_file) {
        (Some(token), _) => Some(token.trim().to_owned()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("cannot read token file {}: {e}", path.display())))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    if let Some(token) = given {
        // Never the stored login's address: this token may be for another server.
        let addr = credentials::normalize_addr(args.addr.as_deref().unwrap_or(DEFAULT_ADDR));
        check_addr(&addr)?;
        return Ok(Resolved { addr, token, from_login: None });
    }
    let login = stored()?;
    let addr = match (&args.addr, &login) {
        (Some(addr), _) => credentials::normalize_addr(addr),
        (None, Some((_, login))) => login.addr.clone(),
        (None, None) => DEFAULT_ADDR.to_owned(),
    };
    check_addr(&addr)?;
    match login {
        Some((path, login)) if login.addr == addr => Ok(Resolved { addr, token: login.token, from_login: Some(path) }),
        Some((_, login)) => Err(CliError::Usage(format!(
            "no management token for {addr} (the stored login is for {}): set KEYWARD_TOKEN or KEYWARD_TOKEN_FILE, \
             pass --token-file, or run `keyward login --addr {addr}`",
            login.addr
        ))),
        None => Err(CliError::Usage(
            "no management token: run `keyward login`, set KEYWARD_TOKEN or KEYWARD_TOKEN_FILE, or pass --token-file"
                .into(),
        )),
    }
}

/// The HTTP client every verb uses.
pub fn http_client() -> Result<reqwest::Client, CliError> {
    http_client_with_timeout(None)
}

/// [`http_client`], giving up on each request after `timeout`.
pub fn http_client_with_timeout(timeout: Option<std::time::Duration>) -> Result<reqwest::Client, CliError> {
    let mut builder = reqwest::Client::builder().user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().map_err(|e| CliError::Usage(e.to_string()))
}

impl Api {
    pub fn new(args: &ClientArgs) -> Result<Self, CliError> {
        let Resolved { addr, token, .. } = resolve(args)?;
        Self::with(addr, token, args)
    }

    /// A connection with an address and token already resolved.
    pub fn with(base: String, token: String, args: &ClientArgs) -> Result<Self, CliError> {
        let http = http_client()?;
        Ok(Self { http, base, token, json: args.json || args.field.is_some(), field: args.field.clone() })
    }

    /// Prints what `--json` prints, or with `--field` that field alone.
    pub fn print_json(&self, value: &Value) -> Result<(), CliError> {
        match &self.field {
            None => output::print_json(value),
            Some(path) => output::print_line(&output::field(value, path)?),
        }
        Ok(())
    }

    /// A response read as its keyward-api type, the one the server built it from.
    pub fn view<T: DeserializeOwned>(&self, value: Value) -> Result<T, CliError> {
        serde_json::from_value(value)
            .map_err(|e| CliError::Unexpected { addr: self.base.clone(), reason: e.to_string() })
    }

    /// With `--json` (or `--field`) prints the server's JSON as it came, so
    /// scripts see every field; otherwise reads it as `T` for `human`.
    pub fn show<T: DeserializeOwned>(&self, value: Value, human: impl FnOnce(T)) -> Result<(), CliError> {
        if self.json {
            return self.print_json(&value);
        }
        human(self.view(value)?);
        Ok(())
    }

    /// Sends a request and returns the JSON body, or the problem as an error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let mut request =
            self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token).query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| CliError::Unreachable {
            addr: self.base.clone(),
            reason: e.to_string().replace(&self.token, "<redacted>"),
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CliError::Unreachable { addr: self.base.clone(), reason: e.to_string() })?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        Err(CliError::Api {
            status: status.as_u16(),
            code: value["code"].as_str().unwrap_or("http_error").to_owned(),
            detail: {
                let detail = value["detail"].as_str().map(str::to_owned).unwrap_or_else(|| {
                    format!("the server answered {}", status.canonical_reason().unwrap_or("an error"))
                });
                // Name the field at fault, as the API does.
                match value["field"].as_str() {
                    Some(field) => format!("{field}: {detail}"),
                    None => detail,
                }
            },
        })
    }

    /// The id of the keyspace `given` names: an id as it is, or the one
    /// keyspace with that name (an error names the choices when there are
    /// none or several), so scripts may say `--keyspace payments`.
    pub async fn keyspace_id(&self, given: &str) -> Result<String, CliError> {
        if keyward_core::id::looks_like(keyward_core::id::IdKind::Keyspace, given) {
            return Ok(given.to_owned());
        }
        let mut matching = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "200".to_owned())];
            query.extend(cursor.take().map(|cursor| ("cursor", cursor)));
            let page: keyward_api::Page<keyward_api::keyspaces::KeyspaceView> =
                self.view(self.get("/v1/keyspaces", &query).await?)?;
            matching.extend(page.data.into_iter().filter(|keyspace| keyspace.name == given).map(|k| k.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        match matching.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(CliError::Usage(format!(
                "--keyspace: no keyspace is named {given:?} (give its id, ks_…, or its exact name; \
                 `keyward keyspace list` shows them)"
            ))),
            several => Err(CliError::Usage(format!(
                "--keyspace: {} keyspaces are named {given:?} ({}); give one id",
                several.len(),
                several.join(", ")
            ))),
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        self.call(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, CliError> {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value, CliError> {
        self.call(Method::PUT, path, &[], Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value, CliError> {
        self.call(Method::PATCH, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::DELETE, path, &[], None).await
    }
}

/// Query pairs from optional values.
pub fn query(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs.iter().filter_map(|(name, value)| value.clone().map(|v| (*name, v))).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::PathBuf;

    use super::*;
    use crate::credentials::Credentials;

    fn args(addr: Option<&str>, token: Option<&str>) -> ClientArgs {
        ClientArgs {
            addr: addr.map(Into::into),
            token: token.map(Into::into),
            token_file: None,
            json: false,
            field: None,
        }
    }

    fn login() -> Result<Option<StoredLogin>, CliError> {
        let credentials = Credentials { addr: "https://kw.example.com".into(), token: "kw_live_stored".into() };
        Ok(Some((PathBuf::from("/home/a/.config/keyward/credentials.toml"), credentials)))
    }

    fn unread() -> Result<Option<StoredLogin>, CliError> {
        panic!("the stored login must not be read when a token is given")
    }

    #[test]
    fn the_stored_login_is_used_as_a_pair() {
        let resolved = resolve_from(&args(None, None), login).unwrap();
        assert_eq!((resolved.addr.as_str(), resolved.token.as_str()), ("https://kw.example.com", "kw_live_stored"));
        assert!(resolved.from_login.is_some());
        // Its own address, however spelled, still gets its token.
        let resolved = resolve_from(&args(Some("https://kw.example.com/"), None), login).unwrap();
        assert_eq!(resolved.token, "kw_live_stored");
    }

    #[test]
    fn a_given_token_wins_and_never_goes_to_the_stored_address() {
        let resolved = resolve_from(&args(None, Some("kw_live_given")), unread).unwrap();
        assert_eq!((resolved.addr.as_str(), resolved.token.as_str()), (DEFAULT_ADDR, "kw_live_given"));
        assert!(resolved.from_login.is_none());
        let resolved = resolve_from(&args(Some("http://10.0.0.1:8420"), Some("kw_live_given")), unread).unwrap();
        assert_eq!(resolved.addr, "http://10.0.0.1:8420");
    }

    #[test]
    fn the_stored_token_is_not_sent_to_another_server() {
        let error = resolve_from(&args(Some("http://other.example.com"), None), login).err().unwrap().to_string();
        assert!(error.contains("no management token for http://other.example.com"), "{error}");
        assert!(error.contains("the stored login is for https://kw.example.com"), "{error}");
        assert!(!error.contains("kw_live_stored"), "{error}");
    }

    #[test]
    fn without_any_token_the_error_says_how_to_get_one() {
        let error = resolve_from(&args(None, None), || Ok(None)).err().unwrap().to_string();
        assert!(error.starts_with("no management token: run `keyward login`"), "{error}");
        assert!(matches!(resolve_from(&args(Some("ftp://x"), Some("t")), unread), Err(CliError::Usage(_))));
    }
}
