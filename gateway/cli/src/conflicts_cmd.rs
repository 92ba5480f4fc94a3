//! `scangate conflicts list`: the offline scans that broke a rule, through
//! the admin API (`GET /v1/conflicts`), one page: a table for people, or
//! with `--json` one object `{"conflicts": [...], "next": CURSOR|null}`
//! (pass `next` as `--after` for the following page).

use crate::admin_client::{self, AdminArgs};
use crate::paging::{Page, Query, TimeWindow};
use crate::terminal::Shown;
use anyhow::Result;
use clap::{Args, Subcommand};
use scangate_api::{ConflictView, PageView};
use scangate_core::offline::messages::ConflictKind;
use scangate_gateway::datadir::DataDir;
use std::process::ExitCode;

/// `scangate conflicts ...`.
#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// Offline scans that broke a rule (over_limit, revoked_before_scan,
    /// forged, ...), oldest recorded first.
    List(ListArgs),
}

/// `scangate conflicts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Only this event's conflicts.
    #[arg(long)]
    pub event: Option<String>,
    /// Only this kind (over_limit, revoked_before_scan, suspended_before_scan,
    /// outside_validity, wrong_gate, expired_snapshot, time_in_future,
    /// time_before_snapshot, unknown_pass, superseded, forged).
    #[arg(long)]
    pub kind: Option<ConflictKind>,
    /// Only this pass's conflicts (32 hex digits).
    #[arg(long)]
    pub pass: Option<String>,
    /// When they were recorded.
    #[command(flatten)]
    pub window: TimeWindow,
    /// Which page.
    #[command(flatten)]
    pub page: Page,
}

/// Runs a conflicts command.
pub async fn run(data: &DataDir, cmd: ConflictsCommand) -> Result<ExitCode> {
    let ConflictsCommand::List(args) = cmd;
    let client = admin_client::connect(data, &args.admin)?;
    let mut query = Query::default();
    query.add("event", args.event.as_deref());
    query.add("kind", args.kind.map(ConflictKind::as_str));
    query.add("pass", args.pass.as_deref());
    query.window(&args.window);
    query.page(&args.page);
    let page: PageView<ConflictView> = client.get_query("/v1/conflicts", &query.0).await?;
    if args.admin.json {
        let out = serde_json::json!({"conflicts": page.items, "next": page.next});
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    for c in &page.items {
        println!("{}", line(c));
    }
    if let Some(next) = &page.next {
        println!("more: scangate conflicts list --after {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One conflict as a line: when, kind, pass, device, gate, the device's
/// time, scan id, and for `over_limit` the other devices.
fn line(c: &ConflictView) -> String {
    let mut line = format!(
        "{} {} pass {} device {} gate {} device time {} scan {}",
        c.at,
        c.kind,
        c.pass_id.as_deref().unwrap_or("none"),
        Shown(&c.device),
        Shown(&c.gate),
        c.device_time,
        Shown(&c.scan_id)
    );
    if !c.other_devices.is_empty() {
        let others: Vec<String> = c
            .other_devices
            .iter()
            .map(|d| Shown(d).to_string())
            .collect();
        line.push_str(&format!(" (also on {})", others.join(", ")));
    }
    line
}
