//! `keyward audit`

use keyward_api::audit::AuditEventView;
use keyward_api::Page;

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
    api.show(page, |page: Page<AuditEventView>| {
        let rows = page.data.iter().map(|event| {
            vec![
                cell(&event.occurred_at),
                cell(&event.action),
                cell(&event.target_id),
                cell(&event.actor),
                cell(&event.source_ip),
            ]
        });
        print_table(&["TIME", "ACTION", "TARGET", "ACTOR", "SOURCE"], rows.collect());
    })
}
