//! `keyward token create|list|show|revoke`

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::output::{page_items, print_fields, print_json, print_line, print_objects, text};
use super::{query, Api};
use crate::cli::TokenCommand;
use crate::error::CliError;

const DETAIL_KEYS: &[&str] = &[
    "id",
    "name",
    "masked",
    "state",
    "keyspace_id",
    "environment",
    "owner",
    "scopes",
    "allowed_ips",
    "metadata",
    "created_at",
    "created_by",
    "expires_at",
    "revoked_at",
    "last_used_at",
    "use_count",
];

pub async fn run(command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Create {
            client,
            keyspace,
            name,
            scopes,
            owner,
            expires_in,
            expires_at,
            metadata,
            allowed_ips,
        } => {
            let api = Api::new(&client)?;
            let metadata = metadata
                .map(|text| {
                    serde_json::from_str::<Value>(&text)
                        .map_err(|e| CliError::Usage(format!("--metadata is not JSON: {e}")))
                })
                .transpose()?;
            let mut body = json!({"keyspace_id": keyspace, "name": name, "scopes": scopes, "allowed_ips": allowed_ips});
            for (key, value) in [
                ("owner", owner.map(Value::from)),
                ("expires_in", expires_in.map(Value::from)),
                ("expires_at", expires_at.map(Value::from)),
                ("metadata", metadata),
            ] {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            let created = api.post("/v1/tokens", body).await?;
            let secret = created["token"].as_str().unwrap_or_default();
            if api.json {
                print_json(&created);
            } else if std::io::stdout().is_terminal() {
                print_fields(&created, &["id", "name", "keyspace_id", "scopes", "expires_at"]);
                print_line(&format!("\n{secret}\n"));
                eprintln!("This is the only time the token is shown. Store it in a secret manager or an environment variable, never in source code.");
            } else {
                // Piped: the secret alone, so `TOKEN=$(keyward token create …)` just works.
                print_line(secret);
            }
            Ok(())
        }
        TokenCommand::List { client, keyspace, owner, state, limit, cursor, all } => {
            let api = Api::new(&client)?;
            let mut cursor = cursor;
            let mut rows: Vec<Value> = Vec::new();
            let mut next;
            loop {
                let page = api
                    .get(
                        "/v1/tokens",
                        &query(&[
                            ("keyspace_id", keyspace.clone()),
                            ("owner", owner.clone()),
                            ("state", state.clone()),
                            ("limit", limit.map(|l| l.to_string())),
                            ("cursor", cursor.clone()),
                        ]),
                    )
                    .await?;
                rows.extend(page_items(&page).iter().cloned());
                next = page["next_cursor"].as_str().map(str::to_owned);
                match (&next, all) {
                    (Some(more), true) => cursor = Some(more.clone()),
                    _ => break,
                }
            }
            if api.json {
                print_json(&json!({"data": rows, "next_cursor": next}));
                return Ok(());
            }
            print_objects(
                &rows,
                &[
                    ("ID", "id"),
                    ("NAME", "name"),
                    ("TOKEN", "masked"),
                    ("STATE", "state"),
                    ("SCOPES", "scopes"),
                    ("EXPIRES", "expires_at"),
                    ("LAST USED", "last_used_at"),
                ],
            );
            if let Some(next) = next {
                eprintln!("More tokens: add --cursor {next} (or --all).");
            }
            Ok(())
        }
        TokenCommand::Show { client, id } => {
            let api = Api::new(&client)?;
            let token = api.get(&format!("/v1/tokens/{}", path_segment(&id)?), &[]).await?;
            if api.json {
                print_json(&token);
            } else {
                print_fields(&token, DETAIL_KEYS);
            }
            Ok(())
        }
        TokenCommand::Revoke { client, id } => {
            let api = Api::new(&client)?;
            let token = api.post(&format!("/v1/tokens/{}/revoke", path_segment(&id)?), json!({})).await?;
            if api.json {
                print_json(&token);
            } else {
                print_line(&format!(
                    "Revoked {} ({}) at {}.",
                    text(&token["id"]),
                    text(&token["name"]),
                    text(&token["revoked_at"])
                ));
            }
            Ok(())
        }
    }
}

/// Ids go into URL paths: refuse anything that is not a plain id.
pub fn path_segment(id: &str) -> Result<&str, CliError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(id)
    } else {
        Err(CliError::Usage(format!("{id:?} is not an id (expected something like tok_… or ks_…)")))
    }
}
