//! `scangate flags list` (the fraud flags scans raised, `GET /v1/flags`)
//! and `scangate incidents list` (forged and malformed tokens refused,
//! `GET /v1/incidents`), one page each: a table for people, or with
//! `--json` one object `{"flags"|"incidents": [...], "next": CURSOR|null}`.
//! Also reads the gateway-wide flag policy file of `serve --flag-policy`.

use crate::admin_client::{self, AdminArgs};
use crate::paging::{Page, Query, TimeWindow};
use crate::terminal::Shown;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use scangate_api::{FlagView, IncidentView, PageView};
use scangate_core::flags::FlagPolicy;
use scangate_gateway::datadir::DataDir;
use std::path::Path;
use std::process::ExitCode;

/// Largest flag policy file, bytes: 256 walking entries and 256 positions
/// of 64-byte gate names take about 60 KB.
const POLICY_FILE_MAX_BYTES: u64 = 256 * 1024;

/// `scangate flags ...`.
#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// Fraud flags of one event's scans (rapid_rescan, shared_code,
    /// impossible_travel), oldest first.
    List(FlagListArgs),
}

/// `scangate flags list`.
#[derive(Debug, Args)]
pub struct FlagListArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// The event whose flags to list.
    #[arg(long)]
    pub event: String,
    /// Only this flag (rapid_rescan, shared_code, impossible_travel).
    #[arg(long)]
    pub kind: Option<String>,
    /// When they were scanned.
    #[command(flatten)]
    pub window: TimeWindow,
    /// Which page.
    #[command(flatten)]
    pub page: Page,
}

/// `scangate incidents ...`.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// Forged and malformed tokens the gateway refused since it started.
    List(IncidentListArgs),
}

/// `scangate incidents list`.
#[derive(Debug, Args)]
pub struct IncidentListArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Only this device's incidents.
    #[arg(long)]
    pub device: Option<String>,
    /// Which page.
    #[command(flatten)]
    pub page: Page,
}

/// Runs a flags command.
pub async fn run_flags(data: &DataDir, cmd: FlagsCommand) -> Result<ExitCode> {
    let FlagsCommand::List(args) = cmd;
    let client = admin_client::connect(data, &args.admin)?;
    let mut query = Query::default();
    query.add("event", Some(&args.event));
    query.add("kind", args.kind.as_deref());
    query.window(&args.window);
    query.page(&args.page);
    let page: PageView<FlagView> = client.get_query("/v1/flags", &query.0).await?;
    if args.admin.json {
        println!(
            "{}",
            serde_json::json!({"flags": page.items, "next": page.next})
        );
        return Ok(ExitCode::SUCCESS);
    }
    for f in &page.items {
        println!(
            "{} {} pass {} {} device {} gate {} scan {}",
            f.at,
            f.kind,
            f.pass_id,
            f.decision,
            Shown(&f.device),
            Shown(&f.gate),
            Shown(&f.scan_id)
        );
    }
    if let Some(next) = &page.next {
        println!(
            "more: scangate flags list --event {} --after {next}",
            Shown(&args.event)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an incidents command.
pub async fn run_incidents(data: &DataDir, cmd: IncidentsCommand) -> Result<ExitCode> {
    let IncidentsCommand::List(args) = cmd;
    let client = admin_client::connect(data, &args.admin)?;
    let mut query = Query::default();
    query.add("device", args.device.as_deref());
    query.page(&args.page);
    let page: PageView<IncidentView> = client.get_query("/v1/incidents", &query.0).await?;
    if args.admin.json {
        println!(
            "{}",
            serde_json::json!({"incidents": page.items, "next": page.next})
        );
        return Ok(ExitCode::SUCCESS);
    }
    for i in &page.items {
        let flags = if i.flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", i.flags.join(", "))
        };
        println!(
            "{} {} device {} gate {} token {}…{flags}",
            i.at,
            i.reason,
            Shown(&i.device),
            Shown(&i.gate),
            i.fingerprint
        );
    }
    if let Some(next) = &page.next {
        println!("more: scangate incidents list --after {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a flag policy file (JSON, every field optional) and checks it;
/// every problem is named.
pub fn read_policy(path: &Path) -> Result<FlagPolicy> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read the flag policy {}", path.display()))?
        .len();
    if len > POLICY_FILE_MAX_BYTES {
        bail!(
            "the flag policy {} is {len} bytes; at most {POLICY_FILE_MAX_BYTES}",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the flag policy {}", path.display()))?;
    let policy: FlagPolicy = serde_json::from_str(&text)
        .with_context(|| format!("the flag policy {} is not valid", path.display()))?;
    let problems = policy.check();
    if !problems.is_empty() {
        let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!(
            "the flag policy {} is not valid: {}",
            path.display(),
            all.join("; ")
        );
    }
    Ok(policy)
}
