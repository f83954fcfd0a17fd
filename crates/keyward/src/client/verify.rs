//! `keyward verify`: exit 0 when the token is valid, 6 when it is not.

use std::io::{IsTerminal, Read};

use serde_json::json;

use super::output::print_fields;
use super::Api;
use crate::cli::VerifyArgs;
use crate::error::CliError;

pub async fn run(args: VerifyArgs) -> Result<(), CliError> {
    let api = Api::new(&args.client)?;
    let presented = match args.presented.as_deref() {
        Some(token) if token != "-" => token.trim().to_owned(),
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!("Paste the token and press Enter (Ctrl-D to finish):");
            }
            let mut buffer = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut buffer)
                .map_err(|e| CliError::Usage(format!("cannot read the token from stdin: {e}")))?;
            buffer.trim().to_owned()
        }
    };
    if presented.is_empty() {
        return Err(CliError::Usage("no token given".into()));
    }
    let mut body = json!({"token": presented, "required_scopes": args.scopes});
    if let Some(client_ip) = args.client_ip {
        body["client_ip"] = client_ip.into();
    }
    if let Some(keyspace) = args.keyspace {
        body["keyspace_id"] = keyspace.into();
    }
    let verdict = api.post("/v1/verify", body).await?;
    if api.json {
        api.print_json(&verdict)?;
    } else {
        print_fields(
            &verdict,
            &["valid", "code", "token_id", "name", "keyspace_id", "owner", "scopes", "expires_at", "missing_scopes"],
        );
    }
    if verdict["valid"].as_bool() == Some(true) {
        Ok(())
    } else {
        Err(CliError::InvalidToken(verdict["code"].as_str().unwrap_or("UNKNOWN").to_owned()))
    }
}
