//! `keyward token create|list|show|revoke|revoke-all|disable|enable|delete|rotate|grace|clients`

use std::io::IsTerminal;

use keyward_api::tokens::{BulkRevokeResponse, CreatedToken, RevokedToken, RotatedToken, TokenClients, TokenView};
use keyward_api::Page;
use serde_json::{json, Value};

use super::names::Names;
use super::output::{cell, print_line, print_pairs, print_table};
use super::{query, Api};
use crate::cli::{ClientArgs, TokenCommand};
use crate::error::CliError;

/// What `token show` prints, in this order: everything but the secret's
/// digest and the policy details `token list` and the web pages show.
fn details(token: &TokenView, names: &Names) -> Vec<(&'static str, String)> {
    vec![
        ("id", cell(&token.id)),
        ("name", cell(&token.name)),
        ("masked", cell(&token.masked)),
        ("state", cell(&token.state)),
        ("keyspace_id", cell(&token.keyspace_id)),
        ("environment", cell(&token.environment)),
        ("owner", names.label(&token.owner)),
        ("scopes", cell(&token.scopes)),
        ("allowed_ips", cell(&token.allowed_ips)),
        ("metadata", cell(&token.metadata)),
        ("created_at", cell(&token.created_at)),
        ("created_by", names.label(&token.created_by)),
        ("parent_token_id", cell(&token.parent_token_id)),
        ("expiry_ceiling", cell(&token.expiry_ceiling)),
        ("expires_at", cell(&token.expires_at)),
        ("revoked_at", cell(&token.revoked_at)),
        ("revoked_reason", cell(&token.revoked_reason)),
        ("disabled_at", cell(&token.disabled_at)),
        ("disabled_reason", cell(&token.disabled_reason)),
        ("rotated_from", cell(&token.rotated_from)),
        ("replaced_by", cell(&token.replaced_by)),
        ("rotated_at", cell(&token.rotated_at)),
        ("in_rotation_grace", cell(&token.in_rotation_grace)),
        ("rotation_period_days", cell(&token.rotation_period_days)),
        ("rotation_due_at", cell(&token.rotation_due_at)),
        ("rotation_due", cell(&token.rotation_due)),
        ("last_used_at", cell(&token.last_used_at)),
        ("use_count", cell(&token.use_count)),
    ]
}

/// The `auto_rotate` request field.
fn auto_rotate(webhook_id: String, grace_seconds: Option<i64>) -> Value {
    let mut setting = json!({"webhook_id": webhook_id});
    if let Some(seconds) = grace_seconds {
        setting["grace_period"] = Value::from(seconds);
    }
    setting
}

/// `body` without its `null` fields: flags left out are left out of the
/// request too, rather than sent as `null`.
fn given(mut body: Value) -> Value {
    if let Value::Object(fields) = &mut body {
        fields.retain(|_, value| !value.is_null());
    }
    body
}

/// A `--keyspace` filter as a keyspace id (a name is looked up).
async fn keyspace_filter(client: &ClientArgs, keyspace: Option<String>) -> Result<Option<String>, CliError> {
    match keyspace {
        Some(given) => Ok(Some(Api::new(client)?.keyspace_id(&given).await?)),
        None => Ok(None),
    }
}

/// A token with no scopes only when asked for: a forgotten `--scope` is
/// an error, not a token that may do nothing.
fn scope_choice(scopes: &[String], no_scopes: bool) -> Result<(), CliError> {
    if scopes.is_empty() && !no_scopes {
        return Err(CliError::Usage(
            "give at least one --scope, or --no-scopes for a token that may do nothing scoped".into(),
        ));
    }
    Ok(())
}

/// A flag's JSON value, or a usage error naming the flag.
fn json_flag(flag: &str, text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text).map_err(|e| CliError::Usage(format!("{flag} is not JSON: {e}")))
}

pub async fn run(command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Create {
            client,
            keyspace,
            name,
            scopes,
            no_scopes,
            owner,
            expires_in,
            expires_at,
            metadata,
            allowed_ips,
            rotate_every,
            auto_rotate_to,
            auto_rotate_grace,
        } => {
            scope_choice(&scopes, no_scopes)?;
            let keyspace = Api::new(&client)?.keyspace_id(&keyspace).await?;
            let metadata = metadata.map(|text| json_flag("--metadata", &text)).transpose()?;
            let body = json!({"keyspace_id": keyspace, "name": name, "scopes": scopes, "allowed_ips": allowed_ips,
                "owner": owner, "expires_in": expires_in, "expires_at": expires_at, "metadata": metadata,
                "rotation_period_days": rotate_every,
                "auto_rotate": auto_rotate_to.map(|webhook| auto_rotate(webhook, auto_rotate_grace))});
            create(&client, given(body)).await
        }
        TokenCommand::List { client, keyspace, owner, state, order, limit, cursor, all } => {
            let keyspace = keyspace_filter(&client, keyspace).await?;
            let filters = [
                ("keyspace_id", keyspace),
                ("owner", owner),
                ("state", state),
                ("order", order),
                ("limit", limit.map(|l| l.to_string())),
            ];
            list(&client, &filters, cursor, all).await
        }
        TokenCommand::Show { client, id } => show(&client, &id).await,
        TokenCommand::Revoke { client, id, reason, with_descendants, customer_tokens } => {
            let mut body = serde_json::Map::new();
            if let Some(reason) = reason {
                body.insert("reason".into(), json!(reason));
            }
            if with_descendants {
                body.insert("with_descendants".into(), json!(true));
                body.insert("customer_tokens".into(), json!(customer_tokens));
            }
            revoke(&client, &id, Value::Object(body)).await
        }
        TokenCommand::Disable { client, id } => switch(&client, &id, "disable", "Disabled").await,
        TokenCommand::Enable { client, id } => switch(&client, &id, "enable", "Enabled").await,
        TokenCommand::Delete { client, id, yes } => delete(&client, &id, yes).await,
        TokenCommand::RevokeAll { client, owner, keyspace, name_prefix, scope, reason, dry_run, expect } => {
            let keyspace = keyspace_filter(&client, keyspace).await?;
            let body = json!({"dry_run": dry_run, "owner": owner, "keyspace_id": keyspace, "name_prefix": name_prefix,
                "scope": scope, "reason": reason, "expected_count": expect});
            revoke_all(&client, given(body), dry_run).await
        }
        TokenCommand::Rotate { client, id, grace, expires_in } => {
            let body = given(json!({"grace_period": grace, "expires_in": expires_in}));
            rotate(&client, &id, body, grace).await
        }
        TokenCommand::Grace { client, id, ends_in } => grace(&client, &id, ends_in).await,
        TokenCommand::AutoRotate { client, id, to, grace, off } => {
            let setting = match (to, off) {
                (Some(webhook), false) => auto_rotate(webhook, grace),
                _ => Value::Null,
            };
            set_auto_rotate(&client, &id, setting).await
        }
        TokenCommand::Clients { client, id } => clients(&client, &id).await,
    }
}

/// `token create`: the secret, shown once; alone on stdout when piped.
async fn create(client: &ClientArgs, body: Value) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let created = api.post("/v1/tokens", body).await?;
    api.show(created, |created: CreatedToken| {
        let secret = created.token.expose();
        if std::io::stdout().is_terminal() {
            let token = &created.view;
            print_pairs(&[
                ("id", cell(&token.id)),
                ("name", cell(&token.name)),
                ("keyspace_id", cell(&token.keyspace_id)),
                ("scopes", cell(&token.scopes)),
                ("expires_at", cell(&token.expires_at)),
            ]);
            print_line(&format!("\n{secret}\n"));
            eprintln!("This is the only time the token is shown. Store it in a secret manager or an environment variable, never in source code.");
        } else {
            // Piped: the secret alone, so `TOKEN=$(keyward token create …)` just works.
            print_line(secret);
        }
    })
}

/// `token list`: one page, or with `--all` every page.
async fn list(
    client: &ClientArgs,
    filters: &[(&'static str, Option<String>)],
    mut cursor: Option<String>,
    all: bool,
) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let mut rows: Vec<Value> = Vec::new();
    let mut next;
    loop {
        let mut pairs = filters.to_vec();
        pairs.push(("cursor", cursor.clone()));
        let page: Page<Value> = api.view(api.get("/v1/tokens", &query(&pairs)).await?)?;
        rows.extend(page.data);
        next = page.next_cursor;
        match (&next, all) {
            (Some(more), true) => cursor = Some(more.clone()),
            _ => break,
        }
    }
    if api.json {
        return api.print_json(&json!({"data": rows, "next_cursor": next}));
    }
    let tokens: Vec<TokenView> = api.view(Value::Array(rows))?;
    let names = Names::of(&api, tokens.iter().map(|token| token.owner.as_str())).await;
    let rows = tokens
        .iter()
        .map(|token| {
            // Flags a reader must not miss ride along with the state.
            let mut state = token.state.clone();
            if token.rotation_due {
                state.push_str(", rotation due");
            }
            if token.in_rotation_grace {
                state.push_str(", in rotation grace");
            }
            let (expires, last_used) = (cell(&token.expires_at), cell(&token.last_used_at));
            vec![
                token.id.clone(),
                token.name.clone(),
                token.masked.clone(),
                state,
                names.label(&token.owner),
                cell(&token.scopes),
                expires,
                last_used,
            ]
        })
        .collect();
    print_table(&["ID", "NAME", "TOKEN", "STATE", "OWNER", "SCOPES", "EXPIRES", "LAST USED"], rows);
    if let Some(next) = next {
        eprintln!("More tokens: add --cursor {next} (or --all).");
    }
    Ok(())
}

/// `token show`
async fn show(client: &ClientArgs, id: &str) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let token = api.get(&format!("/v1/tokens/{}", path_segment(id)?), &[]).await?;
    let people = [token["owner"].as_str().unwrap_or(""), token["created_by"].as_str().unwrap_or("")];
    let names = Names::of(&api, people).await;
    api.show(token, |token: TokenView| print_pairs(&details(&token, &names)))
}

/// `token revoke`: the token, and with `--with-descendants` those revoked with it.
async fn revoke(client: &ClientArgs, id: &str, body: Value) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let path = format!("/v1/tokens/{}/revoke", path_segment(id)?);
    let revoked = api.post(&path, body).await?;
    api.show(revoked, |revoked: RevokedToken| {
        let token = &revoked.view;
        print_line(&format!(
            "Revoked {} ({}) at {} (reason: {}).",
            token.id,
            token.name,
            cell(&token.revoked_at),
            cell(&token.revoked_reason)
        ));
        if let Some(descendants) = &revoked.descendants_revoked {
            print_line(&format!("With it, {} descendant token(s):", descendants.len()));
            for descendant in descendants {
                print_line(&format!(
                    "  {} ({}), made by {}",
                    descendant.id,
                    descendant.name,
                    cell(&descendant.parent_token_id)
                ));
            }
        }
    })
}

/// `token delete`: permanent, so only with `--yes`.
async fn delete(client: &ClientArgs, id: &str, yes: bool) -> Result<(), CliError> {
    if !yes {
        return Err(CliError::Usage(format!(
            "deleting {id} is permanent: pass --yes to confirm, or `keyward token revoke {id}` to keep its record"
        )));
    }
    let api = Api::new(client)?;
    api.delete(&format!("/v1/tokens/{}", path_segment(id)?)).await?;
    if api.json {
        api.print_json(&json!({"id": id, "deleted": true}))?;
    } else {
        print_line(&format!("Deleted {id}; its audit trail stays (`keyward audit --target {id}`)."));
    }
    Ok(())
}

/// `token revoke-all`: a dry run counts, a real run lists what it revoked.
async fn revoke_all(client: &ClientArgs, body: Value, dry_run: bool) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let outcome = api.post("/v1/tokens/bulk-revoke", body).await?;
    api.show(outcome, |outcome: BulkRevokeResponse| {
        let matched = outcome.matched;
        if dry_run {
            print_line(&format!(
                "{matched} active tokens match. Revoke them with the same filters and --expect {matched}."
            ));
        } else {
            let rows =
                outcome.revoked.iter().map(|token| vec![token.id.clone(), token.name.clone(), token.owner.clone()]);
            print_table(&["ID", "NAME", "OWNER"], rows.collect());
            print_line(&format!("Revoked {matched} tokens."));
        }
    })
}

/// `token rotate`: the new secret, shown once, and what becomes of the old token.
async fn rotate(client: &ClientArgs, id: &str, body: Value, grace: i64) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let rotated = api.post(&format!("/v1/tokens/{}/rotate", path_segment(id)?), body).await?;
    api.show(rotated, |rotated: RotatedToken| {
        let secret = rotated.token.expose();
        let old = &rotated.old_token;
        let fate = if grace == 0 {
            format!("The old token {} is revoked.", old.id)
        } else {
            format!(
                "The old token {} keeps working until {}; see who still uses it with `keyward token clients {}`.",
                old.id,
                cell(&old.expires_at),
                old.id
            )
        };
        if std::io::stdout().is_terminal() {
            let token = &rotated.view;
            print_pairs(&[
                ("id", cell(&token.id)),
                ("name", cell(&token.name)),
                ("rotated_from", cell(&token.rotated_from)),
                ("scopes", cell(&token.scopes)),
                ("expires_at", cell(&token.expires_at)),
            ]);
            print_line(&format!("\n{secret}\n"));
            eprintln!("This is the only time the new token is shown. {fate}");
        } else {
            print_line(secret);
            eprintln!("{fate}");
        }
    })
}

/// `token grace`: lengthens or ends a rotated token's grace period.
async fn grace(client: &ClientArgs, id: &str, ends_in: i64) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let path = format!("/v1/tokens/{}/grace", path_segment(id)?);
    let token = api.post(&path, json!({"ends_in": ends_in})).await?;
    api.show(token, |token: TokenView| {
        if ends_in == 0 {
            print_line(&format!("Grace period of {} ended; it no longer verifies.", token.id));
        } else {
            print_line(&format!("{} now works until {}.", token.id, cell(&token.expires_at)));
        }
    })
}

/// `token auto-rotate`: opts in (`setting` an object) or out (`null`).
async fn set_auto_rotate(client: &ClientArgs, id: &str, setting: Value) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let token = api.patch(&format!("/v1/tokens/{}", path_segment(id)?), json!({"auto_rotate": setting})).await?;
    api.show(token, |token: TokenView| match &token.auto_rotate {
        Some(auto) => print_line(&format!(
            "{} will be rotated automatically when due (next: {}); the new token goes to webhook {}, \
             and the old one keeps working {} seconds more.",
            token.id,
            cell(&token.rotation_due_at),
            auto.webhook_id,
            auto.grace_period_seconds,
        )),
        None => print_line(&format!("{} is no longer rotated automatically.", token.id)),
    })
}

/// `token clients`: who still used a rotated token during its grace period.
async fn clients(client: &ClientArgs, id: &str) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let clients = api.get(&format!("/v1/tokens/{}/clients", path_segment(id)?), &[]).await?;
    api.show(clients, |clients: TokenClients| {
        let rows = clients.data.iter().map(|seen| {
            vec![
                cell(&seen.client_ip),
                cell(&seen.user_agent),
                cell(&seen.uses),
                cell(&seen.first_seen_at),
                cell(&seen.last_seen_at),
            ]
        });
        print_table(&["ADDRESS", "USER AGENT", "USES", "FIRST SEEN", "LAST SEEN"], rows.collect());
    })
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
async fn switch(client: &ClientArgs, id: &str, verb: &str, done: &str) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let token = api.post(&format!("/v1/tokens/{}/{verb}", path_segment(id)?), json!({})).await?;
    api.show(token, |token: TokenView| {
        print_line(&format!("{done} {} ({}); it is now {}.", token.id, token.name, token.state))
    })
}
