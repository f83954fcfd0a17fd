//! `keyward org create|list|show`

use std::io::IsTerminal;

use serde_json::json;

use super::output::{page_items, print_fields, print_line, print_objects, text};
use super::token::path_segment;
use super::{query, Api};
use crate::cli::OrgCommand;
use crate::error::CliError;

const KEYS: &[&str] = &["id", "name", "operator", "created_at", "created_by"];

pub async fn run(command: OrgCommand) -> Result<(), CliError> {
    match command {
        OrgCommand::Create { client, name } => {
            let api = Api::new(&client)?;
            let founded = api.post("/v1/organizations", json!({"name": name})).await?;
            let secret = text(&founded["admin_token"]["token"]);
            if api.json {
                api.print_json(&founded)?;
            } else if std::io::stdout().is_terminal() {
                print_fields(&founded["organization"], KEYS);
                print_line(&format!(
                    "\nFirst admin token of {}:\n\n{secret}\n",
                    text(&founded["organization"]["name"])
                ));
                eprintln!("This is the only time the token is shown. Hand it to the organization's administrator through a secret manager.");
            } else {
                // Piped: the admin token alone, so `ADMIN=$(keyward org create …)` just works.
                print_line(&secret);
            }
            Ok(())
        }
        OrgCommand::List { client, limit, cursor } => {
            let api = Api::new(&client)?;
            let page = api
                .get("/v1/organizations", &query(&[("limit", limit.map(|l| l.to_string())), ("cursor", cursor)]))
                .await?;
            if api.json {
                api.print_json(&page)?;
                return Ok(());
            }
            print_objects(
                page_items(&page),
                &[("ID", "id"), ("NAME", "name"), ("OPERATOR", "operator"), ("CREATED", "created_at")],
            );
            if let Some(next) = page["next_cursor"].as_str() {
                eprintln!("More organizations: add --cursor {next}.");
            }
            Ok(())
        }
        OrgCommand::Show { client, id } => {
            let api = Api::new(&client)?;
            let organization = api.get(&format!("/v1/organizations/{}", path_segment(&id)?), &[]).await?;
            if api.json {
                api.print_json(&organization)?;
            } else {
                print_fields(&organization, KEYS);
            }
            Ok(())
        }
    }
}
