//! `keyward ready`: a health check for container runtimes, systemd and
//! load balancers that needs neither curl nor a token. Exit 0 when
//! `/readyz` (or `/healthz` with `--live`) answers 200, 1 when the server
//! answers otherwise, 7 when it cannot be reached in time.

use std::time::Duration;

use serde_json::Value;

use super::output::print_line;
use super::{http_client_with_timeout, resolve_addr};
use crate::cli::ReadyArgs;
use crate::error::CliError;

pub async fn run(args: ReadyArgs) -> Result<(), CliError> {
    let addr = resolve_addr(args.addr.as_deref())?;
    let (path, state) = if args.live { ("/healthz", "live") } else { ("/readyz", "ready") };
    let seconds = u64::try_from(args.timeout).unwrap_or(5);
    let http = http_client_with_timeout(Some(Duration::from_secs(seconds)))?;
    let unreachable = |error: reqwest::Error| CliError::Unreachable { addr: addr.clone(), reason: error.to_string() };
    let response = http.get(format!("{addr}{path}")).send().await.map_err(unreachable)?;
    let status = response.status();
    if status.is_success() {
        print_line(state);
        return Ok(());
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Err(CliError::Api {
        status: status.as_u16(),
        code: body["code"].as_str().unwrap_or("http_error").to_owned(),
        detail: body["detail"].as_str().map(str::to_owned).unwrap_or_else(|| format!("{path} answered {status}")),
    })
}
