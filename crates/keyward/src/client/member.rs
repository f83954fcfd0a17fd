//! `keyward member list|invite|invitations|uninvite|role|remove` and
//! `keyward service-account create|list|remove`.

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::output::{print_fields, print_line, print_objects, text};
use super::token::path_segment;
use super::Api;
use crate::cli::{MemberCommand, ServiceAccountCommand};
use crate::error::CliError;

fn list(value: &Value) -> &[Value] {
    value["data"].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn print_revoked(api: &Api, removal: &Value, what: &str) -> Result<(), CliError> {
    if api.json {
        return api.print_json(removal);
    }
    let revoked: Vec<String> = list(&json!({"data": removal["revoked_tokens"]})).iter().map(text).collect();
    match revoked.len() {
        0 => print_line(&format!("Removed {what}; it owned no active tokens.")),
        n => print_line(&format!("Removed {what}; revoked {n} token(s) it owned: {}", revoked.join(", "))),
    }
    Ok(())
}

pub async fn run(command: MemberCommand) -> Result<(), CliError> {
    match command {
        MemberCommand::List { client } => {
            let api = Api::new(&client)?;
            let members = api.get("/v1/members", &[]).await?;
            if api.json {
                api.print_json(&members)?;
            } else {
                print_objects(
                    list(&members),
                    &[("USER", "user_id"), ("EMAIL", "email"), ("ROLE", "role"), ("JOINED", "joined_at")],
                );
            }
            Ok(())
        }
        MemberCommand::Invite { client, email, role, expires_in } => {
            let api = Api::new(&client)?;
            let mut body = json!({"email": email, "role": role});
            if let Some(seconds) = expires_in {
                body["expires_in"] = Value::from(seconds);
            }
            let invitation = api.post("/v1/invitations", body).await?;
            let secret = text(&invitation["token"]);
            if api.json {
                api.print_json(&invitation)?;
            } else if std::io::stdout().is_terminal() {
                print_fields(&invitation, &["id", "email", "role", "expires_at"]);
                print_line(&format!("\nInvitation secret:\n\n{secret}\n"));
                eprintln!(
                    "Shown once. Send it to {} privately; it works once, until it expires.",
                    text(&invitation["email"])
                );
            } else {
                // Piped: the secret alone.
                print_line(&secret);
            }
            Ok(())
        }
        MemberCommand::Invitations { client } => {
            let api = Api::new(&client)?;
            let invitations = api.get("/v1/invitations", &[]).await?;
            if api.json {
                api.print_json(&invitations)?;
            } else {
                print_objects(
                    list(&invitations),
                    &[("ID", "id"), ("EMAIL", "email"), ("ROLE", "role"), ("EXPIRES", "expires_at")],
                );
            }
            Ok(())
        }
        MemberCommand::Uninvite { client, id } => {
            let api = Api::new(&client)?;
            api.delete(&format!("/v1/invitations/{}", path_segment(&id)?)).await?;
            if !api.json {
                print_line(&format!("Withdrew invitation {id}."));
            }
            Ok(())
        }
        MemberCommand::Role { client, user_id, role } => {
            let api = Api::new(&client)?;
            let member = api.patch(&format!("/v1/members/{}", path_segment(&user_id)?), json!({"role": role})).await?;
            if api.json {
                api.print_json(&member)?;
            } else {
                print_fields(&member, &["user_id", "email", "role", "joined_at"]);
            }
            Ok(())
        }
        MemberCommand::Remove { client, user_id } => {
            let api = Api::new(&client)?;
            let removal = api.delete(&format!("/v1/members/{}", path_segment(&user_id)?)).await?;
            print_revoked(&api, &removal, &format!("member {user_id}"))?;
            Ok(())
        }
    }
}

pub async fn run_service_accounts(command: ServiceAccountCommand) -> Result<(), CliError> {
    match command {
        ServiceAccountCommand::Create { client, name } => {
            let api = Api::new(&client)?;
            let account = api.post("/v1/service-accounts", json!({"name": name})).await?;
            if api.json {
                api.print_json(&account)?;
            } else if !std::io::stdout().is_terminal() {
                print_line(&text(&account["id"]));
            } else {
                print_fields(&account, &["id", "name", "created_at", "created_by"]);
            }
            Ok(())
        }
        ServiceAccountCommand::List { client } => {
            let api = Api::new(&client)?;
            let accounts = api.get("/v1/service-accounts", &[]).await?;
            if api.json {
                api.print_json(&accounts)?;
            } else {
                print_objects(list(&accounts), &[("ID", "id"), ("NAME", "name"), ("CREATED", "created_at")]);
            }
            Ok(())
        }
        ServiceAccountCommand::Remove { client, id } => {
            let api = Api::new(&client)?;
            let removal = api.delete(&format!("/v1/service-accounts/{}", path_segment(&id)?)).await?;
            print_revoked(&api, &removal, &format!("service account {id}"))?;
            Ok(())
        }
    }
}
