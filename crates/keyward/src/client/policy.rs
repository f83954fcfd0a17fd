//! `keyward policy show|set|violations`

use keyward_api::organizations::TokenPolicyView;
use serde_json::{json, Value};

use super::output::{cell, page_items, print_pairs, print_table, text};
use super::{query, Api};
use crate::cli::PolicyCommand;
use crate::error::CliError;

/// What `policy show` and `policy set` print, every rule in this order.
fn rules(policy: &TokenPolicyView) -> Vec<(&'static str, String)> {
    vec![
        ("max_lifetime_seconds", cell(&policy.max_lifetime_seconds)),
        ("default_lifetime_seconds", cell(&policy.default_lifetime_seconds)),
        ("require_expiry", cell(&policy.require_expiry)),
        ("grantable_scopes", cell(&policy.grantable_scopes)),
        ("require_ip_allowlist", cell(&policy.require_ip_allowlist)),
        ("max_active_tokens_per_owner", cell(&policy.max_active_tokens_per_owner)),
        ("max_rotation_grace_seconds", cell(&policy.max_rotation_grace_seconds)),
        ("disable_after_inactive_days", cell(&policy.disable_after_inactive_days)),
        ("warning_days", cell(&policy.warning_days)),
        ("rotation_period_days", cell(&policy.rotation_period_days)),
    ]
}

pub async fn run(command: PolicyCommand) -> Result<(), CliError> {
    match command {
        PolicyCommand::Show { client } => {
            let api = Api::new(&client)?;
            let policy = api.get("/v1/token-policy", &[]).await?;
            show(&api, policy)
        }
        PolicyCommand::Set {
            client,
            max_lifetime,
            default_lifetime,
            require_expiry,
            grantable_scopes,
            require_ip_allowlist,
            max_active_per_owner,
            max_rotation_grace,
            disable_after_inactive,
            warning_days,
            no_warnings,
            rotation_period,
        } => {
            let api = Api::new(&client)?;
            let body = json!({
                "max_lifetime_seconds": max_lifetime,
                "default_lifetime_seconds": default_lifetime,
                "require_expiry": require_expiry,
                "grantable_scopes": if grantable_scopes.is_empty() { Value::Null } else { json!(grantable_scopes) },
                "require_ip_allowlist": require_ip_allowlist,
                "max_active_tokens_per_owner": max_active_per_owner,
                "max_rotation_grace_seconds": max_rotation_grace,
                "disable_after_inactive_days": disable_after_inactive,
                "warning_days": match (no_warnings, warning_days.is_empty()) {
                    (true, _) => json!([]),
                    (false, true) => Value::Null,
                    (false, false) => json!(warning_days),
                },
                "rotation_period_days": rotation_period,
            });
            let policy = api.put("/v1/token-policy", body).await?;
            show(&api, policy)
        }
        PolicyCommand::Violations { client } => {
            let api = Api::new(&client)?;
            let mut rows = Vec::new();
            let mut findings = Vec::new();
            let mut cursor = None;
            // Every page: a page of active tokens may hold no finding at all.
            loop {
                let page = api
                    .get("/v1/token-policy/violations", &query(&[("limit", Some("200".into())), ("cursor", cursor)]))
                    .await?;
                for finding in page_items(&page) {
                    let codes: Vec<String> = finding["violations"]
                        .as_array()
                        .map(|list| list.iter().map(|v| text(&v["code"])).collect())
                        .unwrap_or_default();
                    rows.push(vec![
                        text(&finding["token"]["id"]),
                        text(&finding["token"]["name"]),
                        text(&finding["token"]["owner"]),
                        codes.join(", "),
                    ]);
                    findings.push(finding.clone());
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            if api.json {
                api.print_json(&Value::from(findings))?;
            } else {
                print_table(&["ID", "NAME", "OWNER", "VIOLATIONS"], rows);
            }
            Ok(())
        }
    }
}

fn show(api: &Api, policy: Value) -> Result<(), CliError> {
    api.show(policy, |policy: TokenPolicyView| print_pairs(&rules(&policy)))
}
