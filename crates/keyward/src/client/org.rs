//! `keyward org create|list|show`

use std::io::IsTerminal;

use keyward_api::organizations::{FoundedOrganization, OrganizationView};
use keyward_api::Page;
use serde_json::json;

use super::output::{cell, print_line, print_pairs, print_table};
use super::token::path_segment;
use super::{query, Api};
use crate::cli::OrgCommand;
use crate::error::CliError;

/// What `org show` and `org create` print of an organization.
fn details(organization: &OrganizationView) -> Vec<(&'static str, String)> {
    vec![
        ("id", cell(&organization.id)),
        ("name", cell(&organization.name)),
        ("operator", cell(&organization.operator)),
        ("created_at", cell(&organization.created_at)),
        ("created_by", cell(&organization.created_by)),
    ]
}

pub async fn run(command: OrgCommand) -> Result<(), CliError> {
    match command {
        OrgCommand::Create { client, name } => {
            let api = Api::new(&client)?;
            let founded = api.post("/v1/organizations", json!({"name": name})).await?;
            api.show(founded, |founded: FoundedOrganization| {
                let secret = founded.admin_token.token.expose();
                if std::io::stdout().is_terminal() {
                    print_pairs(&details(&founded.organization));
                    print_line(&format!("\nFirst admin token of {}:\n\n{secret}\n", founded.organization.name));
                    eprintln!("This is the only time the token is shown. Hand it to the organization's administrator through a secret manager.");
                } else {
                    // Piped: the admin token alone, so `ADMIN=$(keyward org create …)` just works.
                    print_line(secret);
                }
            })
        }
        OrgCommand::List { client, limit, cursor } => {
            let api = Api::new(&client)?;
            let page = api
                .get("/v1/organizations", &query(&[("limit", limit.map(|l| l.to_string())), ("cursor", cursor)]))
                .await?;
            api.show(page, |page: Page<OrganizationView>| {
                let rows = page.data.iter().map(|organization| {
                    vec![
                        cell(&organization.id),
                        cell(&organization.name),
                        cell(&organization.operator),
                        cell(&organization.created_at),
                    ]
                });
                print_table(&["ID", "NAME", "OPERATOR", "CREATED"], rows.collect());
                if let Some(next) = page.next_cursor {
                    eprintln!("More organizations: add --cursor {next}.");
                }
            })
        }
        OrgCommand::Show { client, id } => {
            let api = Api::new(&client)?;
            let organization = api.get(&format!("/v1/organizations/{}", path_segment(&id)?), &[]).await?;
            api.show(organization, |organization: OrganizationView| print_pairs(&details(&organization)))
        }
    }
}
