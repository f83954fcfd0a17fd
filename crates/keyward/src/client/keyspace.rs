//! `keyward keyspace create|list|show|scopes|lifecycle`

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::output::{page_items, print_fields, print_line, print_objects, text};
use super::token::path_segment;
use super::{query, Api};
use crate::cli::KeyspaceCommand;
use crate::error::CliError;

const KEYS: &[&str] = &[
    "id",
    "org_id",
    "name",
    "environment",
    "prefix",
    "default_ttl_seconds",
    "scope_catalog",
    "management",
    "rotation_period_days",
    "disable_after_inactive_days",
    "created_at",
    "created_by",
];

pub async fn run(command: KeyspaceCommand) -> Result<(), CliError> {
    match command {
        KeyspaceCommand::Create {
            client,
            name,
            environment,
            prefix,
            default_ttl,
            scope_catalog,
            rotate_every,
            disable_after_inactive,
        } => {
            let api = Api::new(&client)?;
            let mut body = json!({"name": name, "environment": environment});
            if let Some(prefix) = prefix {
                body["prefix"] = Value::from(prefix);
            }
            if let Some(ttl) = default_ttl {
                body["default_ttl_seconds"] = Value::from(ttl);
            }
            if !scope_catalog.is_empty() {
                body["scope_catalog"] = catalog_json(scope_catalog);
            }
            body["rotation_period_days"] = rotate_every.map_or(Value::Null, Value::from);
            body["disable_after_inactive_days"] = disable_after_inactive.map_or(Value::Null, Value::from);
            let keyspace = api.post("/v1/keyspaces", body).await?;
            if api.json {
                api.print_json(&keyspace)?;
            } else if !std::io::stdout().is_terminal() {
                // Piped: the id alone, so `KS=$(keyward keyspace create …)` just works.
                print_line(&text(&keyspace["id"]));
            } else {
                print_fields(&keyspace, KEYS);
            }
            Ok(())
        }
        KeyspaceCommand::List { client, limit, cursor } => {
            let api = Api::new(&client)?;
            let page = api
                .get("/v1/keyspaces", &query(&[("limit", limit.map(|l| l.to_string())), ("cursor", cursor)]))
                .await?;
            if api.json {
                api.print_json(&page)?;
                return Ok(());
            }
            print_objects(
                page_items(&page),
                &[
                    ("ID", "id"),
                    ("NAME", "name"),
                    ("ENV", "environment"),
                    ("PREFIX", "prefix"),
                    ("MANAGEMENT", "management"),
                ],
            );
            if let Some(next) = page["next_cursor"].as_str() {
                eprintln!("More keyspaces: add --cursor {next}.");
            }
            Ok(())
        }
        KeyspaceCommand::Scopes { client, id, scope_catalog, any } => {
            let api = Api::new(&client)?;
            let catalog = if any { Value::Null } else { catalog_json(scope_catalog) };
            let path = format!("/v1/keyspaces/{}/scope-catalog", path_segment(&id)?);
            let keyspace = api.put(&path, json!({"scope_catalog": catalog})).await?;
            if api.json {
                api.print_json(&keyspace)?;
            } else {
                print_fields(&keyspace, KEYS);
            }
            Ok(())
        }
        KeyspaceCommand::Lifecycle { client, id, rotate_every, disable_after_inactive } => {
            let api = Api::new(&client)?;
            let path = format!("/v1/keyspaces/{}/lifecycle", path_segment(&id)?);
            let body =
                json!({"rotation_period_days": rotate_every, "disable_after_inactive_days": disable_after_inactive});
            let keyspace = api.put(&path, body).await?;
            if api.json {
                api.print_json(&keyspace)?;
            } else {
                print_fields(&keyspace, KEYS);
            }
            Ok(())
        }
        KeyspaceCommand::Show { client, id } => {
            let api = Api::new(&client)?;
            let keyspace = api.get(&format!("/v1/keyspaces/{}", path_segment(&id)?), &[]).await?;
            if api.json {
                api.print_json(&keyspace)?;
            } else {
                print_fields(&keyspace, KEYS);
            }
            Ok(())
        }
    }
}

fn catalog_json(entries: Vec<(String, String)>) -> Value {
    entries.into_iter().map(|(scope, description)| json!({"scope": scope, "description": description})).collect()
}
