//! `keyward audit`

use super::output::{page_items, print_objects};
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
        api.print_json(&page)?;
        return Ok(());
    }
    print_objects(
        page_items(&page),
        &[
            ("TIME", "occurred_at"),
            ("ACTION", "action"),
            ("TARGET", "target_id"),
            ("ACTOR", "actor"),
            ("SOURCE", "source_ip"),
        ],
    );
    Ok(())
}
