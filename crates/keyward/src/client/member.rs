//! `keyward member list|invite|invitations|uninvite|role|remove` and
//! `keyward service-account create|list|remove`.

use std::io::IsTerminal;

use keyward_api::accounts::{CreatedInvitationView, InvitationView, MemberView, Removal, ServiceAccountView};
use keyward_api::List;
use serde_json::{json, Value};

use super::output::{cell, print_line, print_pairs, print_table};
use super::token::path_segment;
use super::Api;
use crate::cli::{MemberCommand, ServiceAccountCommand};
use crate::error::CliError;

fn print_revoked(api: &Api, removal: Value, what: &str) -> Result<(), CliError> {
    api.show(removal, |removal: Removal| match removal.revoked_tokens.len() {
        0 => print_line(&format!("Removed {what}; it owned no active tokens.")),
        n => {
            print_line(&format!("Removed {what}; revoked {n} token(s) it owned: {}", removal.revoked_tokens.join(", ")))
        }
    })
}

/// A member as `member role` prints it.
fn member_fields(member: &MemberView) -> Vec<(&'static str, String)> {
    vec![
        ("user_id", cell(&member.user_id)),
        ("email", cell(&member.email)),
        ("role", cell(&member.role)),
        ("joined_at", cell(&member.joined_at)),
    ]
}

pub async fn run(command: MemberCommand) -> Result<(), CliError> {
    match command {
        MemberCommand::List { client } => {
            let api = Api::new(&client)?;
            let members = api.get("/v1/members", &[]).await?;
            api.show(members, |members: List<MemberView>| {
                let rows = members
                    .data
                    .iter()
                    .map(|m| vec![cell(&m.user_id), cell(&m.email), cell(&m.role), cell(&m.joined_at)]);
                print_table(&["USER", "EMAIL", "ROLE", "JOINED"], rows.collect());
            })
        }
        MemberCommand::Invite { client, email, role, expires_in } => {
            let api = Api::new(&client)?;
            let mut body = json!({"email": email, "role": role});
            if let Some(seconds) = expires_in {
                body["expires_in"] = Value::from(seconds);
            }
            let invitation = api.post("/v1/invitations", body).await?;
            api.show(invitation, |created: CreatedInvitationView| {
                let secret = created.token.expose();
                let invitation = &created.invitation;
                if std::io::stdout().is_terminal() {
                    print_pairs(&[
                        ("id", cell(&invitation.id)),
                        ("email", cell(&invitation.email)),
                        ("role", cell(&invitation.role)),
                        ("expires_at", cell(&invitation.expires_at)),
                    ]);
                    print_line(&format!("\nInvitation secret:\n\n{secret}\n"));
                    eprintln!(
                        "Shown once. Send it to {} privately; it works once, until it expires.",
                        invitation.email
                    );
                } else {
                    // Piped: the secret alone.
                    print_line(secret);
                }
            })
        }
        MemberCommand::Invitations { client } => {
            let api = Api::new(&client)?;
            let invitations = api.get("/v1/invitations", &[]).await?;
            api.show(invitations, |invitations: List<InvitationView>| {
                let rows = invitations
                    .data
                    .iter()
                    .map(|i| vec![cell(&i.id), cell(&i.email), cell(&i.role), cell(&i.expires_at)]);
                print_table(&["ID", "EMAIL", "ROLE", "EXPIRES"], rows.collect());
            })
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
            api.show(member, |member: MemberView| print_pairs(&member_fields(&member)))
        }
        MemberCommand::Remove { client, user_id } => {
            let api = Api::new(&client)?;
            let removal = api.delete(&format!("/v1/members/{}", path_segment(&user_id)?)).await?;
            print_revoked(&api, removal, &format!("member {user_id}"))
        }
    }
}

pub async fn run_service_accounts(command: ServiceAccountCommand) -> Result<(), CliError> {
    match command {
        ServiceAccountCommand::Create { client, name } => {
            let api = Api::new(&client)?;
            let account = api.post("/v1/service-accounts", json!({"name": name})).await?;
            api.show(account, |account: ServiceAccountView| {
                if std::io::stdout().is_terminal() {
                    print_pairs(&[
                        ("id", cell(&account.id)),
                        ("name", cell(&account.name)),
                        ("created_at", cell(&account.created_at)),
                        ("created_by", cell(&account.created_by)),
                    ]);
                } else {
                    print_line(&account.id);
                }
            })
        }
        ServiceAccountCommand::List { client } => {
            let api = Api::new(&client)?;
            let accounts = api.get("/v1/service-accounts", &[]).await?;
            api.show(accounts, |accounts: List<ServiceAccountView>| {
                let rows = accounts.data.iter().map(|a| vec![cell(&a.id), cell(&a.name), cell(&a.created_at)]);
                print_table(&["ID", "NAME", "CREATED"], rows.collect());
            })
        }
        ServiceAccountCommand::Remove { client, id } => {
            let api = Api::new(&client)?;
            let removal = api.delete(&format!("/v1/service-accounts/{}", path_segment(&id)?)).await?;
            print_revoked(&api, removal, &format!("service account {id}"))
        }
    }
}
