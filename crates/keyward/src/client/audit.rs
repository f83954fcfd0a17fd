//! `keyward audit`

use keyward_api::audit::AuditEventView;
use keyward_api::Page;

use super::names::Names;
use super::output::{cell, print_table};
use super::{query, Api};
use crate::cli::AuditArgs;
use crate::error::CliError;

pub async fn run(args: AuditArgs) -> Result<(), CliError> {
    let api = Api::new(&args.client)?;
    let page = api
        .get(
            "/v1/audit",
            &query(&[
                ("actor", args.actor),
                ("action", args.action),
                ("target_id", args.target),
                ("since", args.since),
                ("until", args.until),
                ("limit", args.limit.map(|l| l.to_string())),
            ]),
        )
        .await?;
    let actors: Vec<String> = page["data"]
        .as_array()
        .map(|events| events.iter().filter_map(|event| event["actor"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let names = Names::of(&api, actors.iter().map(String::as_str)).await;
    api.show(page, |page: Page<AuditEventView>| {
        let rows = page.data.iter().map(|event| {
            vec![
                cell(&event.occurred_at),
                cell(&event.action),
                cell(&event.target_id),
                names.label(&event.actor),
                cell(&event.source_ip),
            ]
        });
        print_table(&["TIME", "ACTION", "TARGET", "ACTOR", "SOURCE"], rows.collect());
    })
}
