//! The client verbs: each calls the HTTP API and prints a table, key-value
//! lines or (with `--json`) the server's JSON.

mod audit;
mod keyspace;
mod member;
mod org;
mod output;
mod policy;
mod token;
mod verify;
mod webhook;

use reqwest::Method;
use serde_json::Value;

use crate::cli::{ClientArgs, Command};
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
        Command::Serve(_) | Command::Init(_) | Command::Migrate(_) | Command::Backup(_) => {
            Err(CliError::Usage("not a client command".into()))
        }
    }
}

/// An authenticated connection to a server.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    pub json: bool,
}

impl Api {
    pub fn new(args: &ClientArgs) -> Result<Self, CliError> {
        let token = match (&args.token, &args.token_file) {
            (Some(token), _) => token.trim().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("cannot read token file {}: {e}", path.display())))?
                .trim()
                .to_owned(),
            (None, None) => {
                return Err(CliError::Usage(
                    "no management token: set KEYWARD_TOKEN or KEYWARD_TOKEN_FILE, or pass --token-file".into(),
                ))
            }
        };
        let base = args.addr.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::Usage(format!("--addr must start with http:// or https://, got {base:?}")));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(Self { http, base, token, json: args.json })
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
