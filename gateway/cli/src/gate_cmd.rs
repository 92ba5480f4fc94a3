//! `scangate pass admit` (a guard's override) and `scangate pass reissue`:
//! the operator's actions at the gate, over the admin API.

use crate::admin_client::{self, AdminArgs};
use crate::pass_cmd::print_scan;
use crate::terminal::Shown;
use anyhow::Result;
use clap::Args;
use scangate_core::PassId;
use scangate_gateway::operator::api::ScanView;

/// A guard's override: admit a pass at a gate by hand.
#[derive(Debug, Args)]
pub struct AdmitArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// The pass id.
    pub id: PassId,
    /// The gate the guard stands at.
    #[arg(long)]
    pub gate: String,
    /// Why (kept on the scan record, in the audit log and the journal).
    #[arg(long)]
    pub reason: String,
}

/// `scangate pass admit ID --gate G --reason TEXT`: prints the override's
/// scan record (one JSON line with `--json`).
pub async fn admit(data: &scangate_gateway::datadir::DataDir, a: AdmitArgs) -> Result<()> {
    let client = admin_client::connect(data, &a.admin)?;
    let scan: ScanView = client
        .post(
            &format!("/v1/passes/{}/admit", a.id),
            &serde_json::json!({ "gate": a.gate, "reason": a.reason }),
        )
        .await?;
    print_scan(&scan, a.admin.json)?;
    if let (Some(o), false) = (&scan.guard_override, a.admin.json) {
        let overrode = o.overrode.map_or("nothing", |r| r.as_str());
        println!(
            "override by {} (overrode {overrode}): {}",
            Shown(&o.who),
            Shown(&o.reason)
        );
    }
    Ok(())
}
