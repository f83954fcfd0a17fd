//! `keyward token create|list|show|revoke|revoke-all|disable|enable|delete|rotate|grace|clients`

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::output::{page_items, print_fields, print_line, print_objects, text};
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
    "parent_token_id",
    "expiry_ceiling",
    "expires_at",
    "revoked_at",
    "revoked_reason",
    "disabled_at",
    "disabled_reason",
    "rotated_from",
    "replaced_by",
    "rotated_at",
    "in_rotation_grace",
    "rotation_period_days",
    "rotation_due_at",
    "rotation_due",
    "last_used_at",
    "use_count",
];

/// The `auto_rotate` request field.
fn auto_rotate(webhook_id: String, grace_seconds: Option<i64>) -> Value {
    let mut setting = json!({"webhook_id": webhook_id});
    if let Some(seconds) = grace_seconds {
        setting["grace_period"] = Value::from(seconds);
    }
    setting
}

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
            rotate_every,
            auto_rotate_to,
            auto_rotate_grace,
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
                ("rotation_period_days", rotate_every.map(Value::from)),
                ("auto_rotate", auto_rotate_to.map(|webhook| auto_rotate(webhook, auto_rotate_grace))),
            ] {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            let created = api.post("/v1/tokens", body).await?;
            let secret = created["token"].as_str().unwrap_or_default();
            if api.json {
                api.print_json(&created)?;
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
        TokenCommand::List { client, keyspace, owner, state, order, limit, cursor, all } => {
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
                            ("order", order.clone()),
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
                api.print_json(&json!({"data": rows, "next_cursor": next}))?;
                return Ok(());
            }
            // Flags a reader must not miss ride along with the state.
            for row in &mut rows {
                let mut state = text(&row["state"]);
                if row["rotation_due"].as_bool() == Some(true) {
                    state.push_str(", rotation due");
                }
                if row["in_rotation_grace"].as_bool() == Some(true) {
                    state.push_str(", in rotation grace");
                }
                row["state"] = Value::from(state);
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
                api.print_json(&token)?;
            } else {
                print_fields(&token, DETAIL_KEYS);
            }
            Ok(())
        }
        TokenCommand::Revoke { client, id, reason, with_descendants, customer_tokens } => {
            let api = Api::new(&client)?;
            let mut body = serde_json::Map::new();
            if let Some(reason) = reason {
                body.insert("reason".into(), json!(reason));
            }
            if with_descendants {
                body.insert("with_descendants".into(), json!(true));
                body.insert("customer_tokens".into(), json!(customer_tokens));
            }
            let path = format!("/v1/tokens/{}/revoke", path_segment(&id)?);
            let token = api.post(&path, serde_json::Value::Object(body)).await?;
            if api.json {
                api.print_json(&token)?;
            } else {
                print_line(&format!(
                    "Revoked {} ({}) at {} (reason: {}).",
                    text(&token["id"]),
                    text(&token["name"]),
                    text(&token["revoked_at"]),
                    text(&token["revoked_reason"])
                ));
                if let Some(descendants) = token["descendants_revoked"].as_array() {
                    print_line(&format!("With it, {} descendant token(s):", descendants.len()));
                    for descendant in descendants {
                        print_line(&format!(
                            "  {} ({}), made by {}",
                            text(&descendant["id"]),
                            text(&descendant["name"]),
                            text(&descendant["parent_token_id"])
                        ));
                    }
                }
            }
            Ok(())
        }
        TokenCommand::Disable { client, id } => switch(&client, &id, "disable", "Disabled").await,
        TokenCommand::Enable { client, id } => switch(&client, &id, "enable", "Enabled").await,
        TokenCommand::Delete { client, id, yes } => {
            if !yes {
                return Err(CliError::Usage(format!(
                    "deleting {id} is permanent: pass --yes to confirm, or `keyward token revoke {id}` to keep its record"
                )));
            }
            let api = Api::new(&client)?;
            api.delete(&format!("/v1/tokens/{}", path_segment(&id)?)).await?;
            if api.json {
                api.print_json(&json!({"id": id, "deleted": true}))?;
            } else {
                print_line(&format!("Deleted {id}; its audit trail stays (`keyward audit --target {id}`)."));
            }
            Ok(())
        }
        TokenCommand::RevokeAll { client, owner, keyspace, name_prefix, scope, reason, dry_run, expect } => {
            let api = Api::new(&client)?;
            let mut body = json!({"dry_run": dry_run});
            for (key, value) in [
                ("owner", owner.map(Value::from)),
                ("keyspace_id", keyspace.map(Value::from)),
                ("name_prefix", name_prefix.map(Value::from)),
                ("scope", scope.map(Value::from)),
                ("reason", reason.map(Value::from)),
                ("expected_count", expect.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            let outcome = api.post("/v1/tokens/bulk-revoke", body).await?;
            if api.json {
                api.print_json(&outcome)?;
            } else if dry_run {
                let matched = text(&outcome["matched"]);
                print_line(&format!(
                    "{matched} active tokens match. Revoke them with the same filters and --expect {matched}."
                ));
            } else {
                print_objects(
                    page_items(&json!({"data": outcome["revoked"]})),
                    &[("ID", "id"), ("NAME", "name"), ("OWNER", "owner")],
                );
                print_line(&format!("Revoked {} tokens.", text(&outcome["matched"])));
            }
            Ok(())
        }
        TokenCommand::Rotate { client, id, grace, expires_in } => {
            let api = Api::new(&client)?;
            let mut body = json!({"grace_period": grace});
            if let Some(seconds) = expires_in {
                body["expires_in"] = json!(seconds);
            }
            let rotated = api.post(&format!("/v1/tokens/{}/rotate", path_segment(&id)?), body).await?;
            let secret = rotated["token"].as_str().unwrap_or_default();
            let old = &rotated["old_token"];
            let fate = if grace == 0 {
                format!("The old token {} is revoked.", text(&old["id"]))
            } else {
                format!(
                    "The old token {} keeps working until {}; see who still uses it with `keyward token clients {}`.",
                    text(&old["id"]),
                    text(&old["expires_at"]),
                    text(&old["id"])
                )
            };
            if api.json {
                api.print_json(&rotated)?;
            } else if std::io::stdout().is_terminal() {
                print_fields(&rotated, &["id", "name", "rotated_from", "scopes", "expires_at"]);
                print_line(&format!("\n{secret}\n"));
                eprintln!("This is the only time the new token is shown. {fate}");
            } else {
                print_line(secret);
                eprintln!("{fate}");
            }
            Ok(())
        }
        TokenCommand::Grace { client, id, ends_in } => {
            let api = Api::new(&client)?;
            let path = format!("/v1/tokens/{}/grace", path_segment(&id)?);
            let token = api.post(&path, json!({"ends_in": ends_in})).await?;
            if api.json {
                api.print_json(&token)?;
            } else if ends_in == 0 {
                print_line(&format!("Grace period of {} ended; it no longer verifies.", text(&token["id"])));
            } else {
                print_line(&format!("{} now works until {}.", text(&token["id"]), text(&token["expires_at"])));
            }
            Ok(())
        }
        TokenCommand::AutoRotate { client, id, to, grace, off } => {
            let api = Api::new(&client)?;
            let setting = match (to, off) {
                (Some(webhook), false) => auto_rotate(webhook, grace),
                _ => Value::Null,
            };
            let token =
                api.patch(&format!("/v1/tokens/{}", path_segment(&id)?), json!({"auto_rotate": setting})).await?;
            if api.json {
                api.print_json(&token)?;
            } else {
                match token["auto_rotate"].as_object() {
                    Some(auto) => print_line(&format!(
                        "{} will be rotated automatically when due (next: {}); the new token goes to webhook {}, \
                         and the old one keeps working {} seconds more.",
                        text(&token["id"]),
                        text(&token["rotation_due_at"]),
                        text(&auto["webhook_id"]),
                        text(&auto["grace_period_seconds"]),
                    )),
                    None => print_line(&format!("{} is no longer rotated automatically.", text(&token["id"]))),
                }
            }
            Ok(())
        }
        TokenCommand::Clients { client, id } => {
            let api = Api::new(&client)?;
            let clients = api.get(&format!("/v1/tokens/{}/clients", path_segment(&id)?), &[]).await?;
            if api.json {
                api.print_json(&clients)?;
            } else {
                print_objects(
                    page_items(&clients),
                    &[
                        ("ADDRESS", "client_ip"),
                        ("USER AGENT", "user_agent"),
                        ("USES", "uses"),
                        ("FIRST SEEN", "first_seen_at"),
                        ("LAST SEEN", "last_seen_at"),
                    ],
                );
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

/// `token disable` and `token enable`: one call, then the token's new state.
async fn switch(client: &crate::cli::ClientArgs, id: &str, verb: &str, done: &str) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let token = api.post(&format!("/v1/tokens/{}/{verb}", path_segment(id)?), json!({})).await?;
    if api.json {
        api.print_json(&token)?;
    } else {
        print_line(&format!(
            "{done} {} ({}); it is now {}.",
            text(&token["id"]),
            text(&token["name"]),
            text(&token["state"])
        ));
    }
    Ok(())
}
