//! `scangate event set E --file F` and `scangate event show E`: an event's
//! definition (gates, zones, policy) through the admin API
//! (`PUT/GET /v1/events/{event}`; a refused definition prints every
//! problem the gateway named), and `scangate event purge E`: the personal
//! data of every pass of an ended event erased at once.

use crate::admin_client::{self, AdminArgs};
use crate::paging::Query;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use scangate_api::PageView;
use scangate_core::event::{DEFINITION_MAX_BYTES, EventDefinition};
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::api::PassView;
use scangate_gateway::operator::http::LIST_MAX;
use std::path::PathBuf;

/// `scangate event ...`.
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Set an event's definition from a JSON file (replacing any).
    Set(SetArgs),
    /// Show an event's definition.
    Show(ShowArgs),
    /// Who is inside each zone of an event now, against its capacity.
    Occupancy(crate::occupancy_cmd::OccupancyArgs),
    /// Erase the personal data of every pass of an ended event at once
    /// (each through `DELETE /v1/passes/{id}`: revoked, display text and
    /// card gone for good; scans and audit kept). Run it once the event is
    /// over: its passes stop working.
    Purge {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The event.
        event: String,
        /// Why (kept in each pass's audit log and the operator journal).
        #[arg(long)]
        reason: String,
    },
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
        EventCommand::Occupancy(args) => crate::occupancy_cmd::run(data, args).await,
        EventCommand::Purge {
            admin,
            event,
            reason,
        } => purge(data, &admin, &event, &reason).await,
    }
}

/// Walks the event's passes a page at a time ([`LIST_MAX`]) and erases
/// each; an erased pass stays listed, so the cursor walk sees every pass
/// once. Stops at the first failure, saying how many were erased.
async fn purge(data: &DataDir, admin: &AdminArgs, event: &str, reason: &str) -> Result<()> {
    let client = admin_client::connect(data, admin)?;
    let body = serde_json::json!({ "reason": reason });
    let (mut erased, mut after) = (0usize, None::<String>);
    loop {
        let mut q = Query::default();
        q.add("event", Some(event));
        q.add("limit", Some(&LIST_MAX.to_string()));
        q.add("after", after.as_deref());
        let page: PageView<PassView> = client.get_query("/v1/passes", &q.0).await?;
        for pass in &page.items {
            let path = format!("/v1/passes/{}", pass.id);
            let done: Result<PassView, _> = client.delete(&path, &body).await;
            if let Err(e) = done {
                anyhow::bail!(
                    "erased {erased} passes of the event, then pass {}: {e}",
                    pass.id
                );
            }
            erased += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if admin.json {
        println!(
            "{}",
            serde_json::json!({ "event": event, "erased": erased })
        );
    } else {
        println!("event {event}: the personal data of {erased} passes erased");
    }
    Ok(())
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
