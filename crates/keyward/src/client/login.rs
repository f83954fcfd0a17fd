//! `keyward login`, `logout` and `whoami`: keep a checked management token
//! for later commands, forget it, and ask the server who a token acts as.

use std::io::{IsTerminal, Read};
use std::path::Path;

use serde_json::{json, Value};

use super::output::{print_fields, print_line, text};
use super::{check_addr, resolve, Api};
use crate::cli::{ClientArgs, LoginArgs, WhoamiArgs, DEFAULT_ADDR};
use crate::credentials::{self, Credentials};
use crate::error::CliError;

/// Checks the token against the server, then stores address and token.
pub async fn login(args: LoginArgs) -> Result<(), CliError> {
    let addr = credentials::normalize_addr(args.addr.as_deref().unwrap_or(DEFAULT_ADDR));
    check_addr(&addr)?;
    let path = credentials::path()?;
    let token = read_token(args.token_file.as_deref(), &addr)?;
    // Checked offline first, so that a pasted password or some other secret
    // is never sent to the server.
    keyward_core::ParsedToken::parse(&token).map_err(|error| {
        CliError::Usage(format!("that is not a Keyward token: {error}; paste a management token (kw_live_…)"))
    })?;
    let quiet = ClientArgs { addr: None, token: None, token_file: None, json: false, field: None };
    let me = match Api::with(addr.clone(), token.clone(), &quiet)?.get("/v1/whoami", &[]).await {
        Ok(me) => me,
        Err(CliError::Api { status: 401, code, .. }) => {
            return Err(CliError::Api {
                status: 401,
                code,
                detail: format!(
                    "the server at {addr} does not accept this token (unknown, expired, revoked or disabled, \
                     or not a management token); nothing was stored"
                ),
            })
        }
        Err(error) => return Err(error),
    };
    credentials::store(&path, &Credentials { addr: addr.clone(), token })?;
    print_line(&format!(
        "Logged in to {addr} as {} ({}) in {} ({}). Stored in {} (mode 0600); `keyward logout` forgets it.",
        text(&me["token_name"]),
        text(&me["token_id"]),
        text(&me["organization"]["name"]),
        text(&me["organization"]["id"]),
        path.display()
    ));
    Ok(())
}

/// The token from a file, standard input, or a prompt without echo.
fn read_token(file: Option<&Path>, addr: &str) -> Result<String, CliError> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read token file {}: {e}", path.display())))?,
        None if std::io::stdin().is_terminal() => rpassword::prompt_password(format!("Management token for {addr}: "))
            .map_err(|e| CliError::Usage(format!("cannot read the token from the terminal: {e}")))?,
        None => {
            let mut buffer = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut buffer)
                .map_err(|e| CliError::Usage(format!("cannot read the token from stdin: {e}")))?;
            buffer
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::Usage("no token given: pipe it in, type it at the prompt, or pass --token-file".into()));
    }
    Ok(token)
}

/// Removes the stored login. The token stays valid on the server.
pub fn logout() -> Result<(), CliError> {
    let path = credentials::path()?;
    if credentials::remove(&path)? {
        print_line(&format!(
            "Logged out: removed {}. The token itself still works until it is revoked (`keyward token revoke ID`).",
            path.display()
        ));
    } else {
        print_line(&format!("Not logged in ({} does not exist).", path.display()));
    }
    Ok(())
}

/// Who the token in use acts as, and where it came from.
pub async fn whoami(args: WhoamiArgs) -> Result<(), CliError> {
    let resolved = resolve(&args.client)?;
    let api = Api::with(resolved.addr.clone(), resolved.token, &args.client)?;
    let me = api.get("/v1/whoami", &[]).await?;
    if api.json {
        return api.print_json(&me);
    }
    let identity = match me["kind"].as_str() {
        Some("session") => text(&me["email"]),
        _ => format!("{} ({})", text(&me["token_name"]), text(&me["token_id"])),
    };
    let credentials = match &resolved.from_login {
        Some(path) => format!("stored login ({})", path.display()),
        None => "flags or environment".to_owned(),
    };
    let summary: Value = json!({
        "server": resolved.addr,
        "token": identity,
        "organization": format!("{} ({})", text(&me["organization"]["name"]), text(&me["organization"]["id"])),
        "owner": me["owner"],
        "role": me["role"],
        "scopes": me["scopes"],
        "expires_at": me["expires_at"],
        "credentials": credentials,
    });
    print_fields(
        &summary,
        &["server", "token", "organization", "owner", "role", "scopes", "expires_at", "credentials"],
    );
    Ok(())
}
