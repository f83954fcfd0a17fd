//! `keyward keyspace create|list|show|scopes|lifecycle`

use std::io::IsTerminal;

use keyward_api::keyspaces::KeyspaceView;
use keyward_api::Page;
use serde_json::{json, Value};

use super::output::{cell, print_line, print_pairs, print_table};
use super::token::path_segment;
use super::{query, Api};
use crate::cli::{ClientArgs, KeyspaceCommand};
use crate::error::CliError;

/// What `keyspace show` and the commands that change one print.
fn details(keyspace: &KeyspaceView) -> Vec<(&'static str, String)> {
    vec![
        ("id", cell(&keyspace.id)),
        ("org_id", cell(&keyspace.org_id)),
        ("name", cell(&keyspace.name)),
        ("environment", cell(&keyspace.environment)),
        ("prefix", cell(&keyspace.prefix)),
        ("default_ttl_seconds", cell(&keyspace.default_ttl_seconds)),
        ("scope_catalog", cell(&keyspace.scope_catalog)),
        ("management", cell(&keyspace.management)),
        ("rotation_period_days", cell(&keyspace.rotation_period_days)),
        ("disable_after_inactive_days", cell(&keyspace.disable_after_inactive_days)),
        ("created_at", cell(&keyspace.created_at)),
        ("created_by", cell(&keyspace.created_by)),
    ]
}

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
            if_not_exists,
        } => {
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
            create(&client, body, if_not_exists).await
        }
        KeyspaceCommand::List { client, limit, cursor } => list(&client, limit, cursor).await,
        KeyspaceCommand::Scopes { client, id, scope_catalog, any } => {
            let catalog = if any { Value::Null } else { catalog_json(scope_catalog) };
            let path = format!("/v1/keyspaces/{}/scope-catalog", path_segment(&id)?);
            change(&client, &path, json!({"scope_catalog": catalog})).await
        }
        KeyspaceCommand::Lifecycle { client, id, rotate_every, disable_after_inactive } => {
            let path = format!("/v1/keyspaces/{}/lifecycle", path_segment(&id)?);
            let body =
                json!({"rotation_period_days": rotate_every, "disable_after_inactive_days": disable_after_inactive});
            change(&client, &path, body).await
        }
        KeyspaceCommand::Show { client, id } => {
            let api = Api::new(&client)?;
            let keyspace = api.get(&format!("/v1/keyspaces/{}", path_segment(&id)?), &[]).await?;
            api.show(keyspace, |keyspace: KeyspaceView| print_pairs(&details(&keyspace)))
        }
    }
}

/// `keyspace create`: piped, the id alone. With `if_not_exists`, the
/// keyspace of that name when there is one.
async fn create(client: &ClientArgs, body: Value, if_not_exists: bool) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    let keyspace = match api.post("/v1/keyspaces", body).await {
        Err(CliError::Api { code, .. }) if if_not_exists && code == "keyspace_exists" => {
            let id = api.keyspace_id(&name).await?;
            api.get(&format!("/v1/keyspaces/{}", path_segment(&id)?), &[]).await?
        }
        other => other?,
    };
    api.show(keyspace, |keyspace: KeyspaceView| {
        if std::io::stdout().is_terminal() {
            print_pairs(&details(&keyspace));
        } else {
            // Piped: the id alone, so `KS=$(keyward keyspace create …)` just works.
            print_line(&keyspace.id);
        }
    })
}

/// `keyspace list`: one page.
async fn list(client: &ClientArgs, limit: Option<u32>, cursor: Option<String>) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let page = api.get("/v1/keyspaces", &query(&[("limit", limit.map(|l| l.to_string())), ("cursor", cursor)])).await?;
    api.show(page, |page: Page<KeyspaceView>| {
        let rows = page.data.iter().map(|keyspace| {
            vec![
                cell(&keyspace.id),
                cell(&keyspace.name),
                cell(&keyspace.environment),
                cell(&keyspace.prefix),
                cell(&keyspace.management),
            ]
        });
        print_table(&["ID", "NAME", "ENV", "PREFIX", "MANAGEMENT"], rows.collect());
        if let Some(next) = page.next_cursor {
            eprintln!("More keyspaces: add --cursor {next}.");
        }
    })
}

/// `keyspace scopes` and `keyspace lifecycle`: one replacement, then the keyspace.
async fn change(client: &ClientArgs, path: &str, body: Value) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let keyspace = api.put(path, body).await?;
    api.show(keyspace, |keyspace: KeyspaceView| print_pairs(&details(&keyspace)))
}

fn catalog_json(entries: Vec<(String, String)>) -> Value {
    entries.into_iter().map(|(scope, description)| json!({"scope": scope, "description": description})).collect()
}
