//! `keyward audit`

use super::output::{print_json, print_table, text};
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
    if api.json {
        print_json(&page);
        return Ok(());
    }
    let rows = page["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| ["occurred_at", "action", "target_id", "actor", "source_ip"].iter().map(|k| text(&e[*k])).collect())
        .collect();
    print_table(&["TIME", "ACTION", "TARGET", "ACTOR", "SOURCE"], rows);
    Ok(())
}
