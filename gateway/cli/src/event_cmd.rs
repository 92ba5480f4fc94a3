//! `scangate event set E --file F` and `scangate event show E`: an event's
//! definition (gates, zones, policy) through the admin API
//! (`PUT/GET /v1/events/{event}`). A refused definition prints every
//! problem the gateway named.

use crate::admin_client::{self, AdminArgs};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use scangate_core::event::{DEFINITION_MAX_BYTES, EventDefinition};
use scangate_gateway::datadir::DataDir;
use std::path::PathBuf;

/// `scangate event ...`.
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Set an event's definition from a JSON file (replacing any).
    Set(SetArgs),
    /// Show an event's definition.
    Show(ShowArgs),
}

/// `scangate event set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The event.
    pub event: String,
    /// The definition: `{"gates": [...], "zones": [...], "policy": {...}}`.
    #[arg(long)]
    pub file: PathBuf,
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `scangate event show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The event.
    pub event: String,
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The API path of `event`'s definition (the name percent-encoded: it may
/// hold spaces and punctuation).
fn path(event: &str) -> String {
    format!(
        "/v1/events/{}",
        utf8_percent_encode(event, NON_ALPHANUMERIC)
    )
}

/// Runs an event command.
pub async fn run(data: &DataDir, cmd: EventCommand) -> Result<()> {
    match cmd {
        EventCommand::Set(args) => {
            let len = std::fs::metadata(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?
                .len();
            if len > DEFINITION_MAX_BYTES as u64 {
                bail!(
                    "{} is {len} bytes; a definition is at most {DEFINITION_MAX_BYTES}",
                    args.file.display()
                );
            }
            let body = std::fs::read(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            let client = admin_client::connect(data, &args.admin)?;
            let def: EventDefinition = client
                .put_raw(&path(&args.event), "application/json", body)
                .await
                .with_context(|| format!("the definition of {} was not set", args.event))?;
            print(&args.event, &def, args.admin.json)
        }
        EventCommand::Show(args) => {
            let client = admin_client::connect(data, &args.admin)?;
            let def: EventDefinition = client.get(&path(&args.event)).await?;
            print(&args.event, &def, args.admin.json)
        }
    }
}

fn print(event: &str, def: &EventDefinition, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(def)?);
        return Ok(());
    }
    println!(
        "{}: {} gates, {} zones, re-entry {}, anti-passback {}",
        crate::terminal::Shown(event),
        def.gates.len(),
        def.zones.len(),
        if def.policy.reentry {
            "allowed"
        } else {
            "not allowed"
        },
        serde_json::to_value(def.policy.anti_passback)?
            .as_str()
            .unwrap_or("?"),
    );
    Ok(())
}
