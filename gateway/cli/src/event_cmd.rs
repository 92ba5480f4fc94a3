//! `scangate event set E --file F` and `scangate event show E`: an event's
//! definition (gates, zones, policy) through the admin API
//! (`PUT/GET /v1/events/{event}`; a refused definition prints every
//! problem the gateway named), and `scangate event purge E`: the personal
//! data of every pass of an ended event erased at once.

use crate::admin_client::{self, AdminArgs, AdminClient};
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
    /// card gone for good, final; scans and audit kept). Refused, erasing
    /// nothing, while the event has not ended: some pass's `valid_until`
    /// is not past yet, or it has none.
    Purge {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The event.
        event: String,
        /// Why (kept in each pass's audit log and the operator journal).
        #[arg(long)]
        reason: String,
        /// Purge even though the event has not ended by its passes' validity:
        /// for passes issued without `valid_until` (they never end by
        /// themselves) once the operator knows the event is over, or a
        /// holder's erasure request for a whole event that was cancelled.
        #[arg(long)]
        force: bool,
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
            force,
        } => {
            let client = admin_client::connect(data, &admin)?;
            if !force {
                refuse_unended(&client, &event, scangate_gateway::now_ms()).await?;
            }
            purge(&client, &admin, &event, &reason, force).await
        }
    }
}

/// Passes named in the refusal of an event that has not ended: enough
/// for an operator to look one up, never a list as long as the event.
const UNENDED_SHOWN_MAX: usize = 3;

/// One page ([`LIST_MAX`]) of `event`'s passes after `after`.
async fn page_of(
    client: &AdminClient,
    event: &str,
    after: Option<&str>,
) -> Result<PageView<PassView>> {
    let mut q = Query::default();
    q.add("event", Some(event));
    q.add("limit", Some(&LIST_MAX.to_string()));
    q.add("after", after);
    Ok(client.get_query("/v1/passes", &q.0).await?)
}

/// Whether `pass` can never admit anyone again by its validity: its
/// `valid_until` is at or before `now_ms`. A pass without one never ends.
fn has_ended(pass: &PassView, now_ms: i64) -> Result<bool> {
    let Some(until) = &pass.valid_until else {
        return Ok(false);
    };
    let until = scangate_api::parse_rfc3339("valid_until", until)
        .map_err(|e| anyhow::anyhow!("pass {}: {}", pass.id, e.message))?;
    Ok(until <= now_ms)
}

/// An event has ended when every one of its passes has ([`has_ended`]);
/// otherwise the purge is refused before anything is erased, naming a
/// few passes still valid.
async fn refuse_unended(client: &AdminClient, event: &str, now_ms: i64) -> Result<()> {
    let (mut total, mut valid, mut shown) = (0usize, 0usize, Vec::new());
    let mut after = None::<String>;
    loop {
        let page = page_of(client, event, after.as_deref()).await?;
        for pass in &page.items {
            total += 1;
            if !has_ended(pass, now_ms)? {
                valid += 1;
                if shown.len() < UNENDED_SHOWN_MAX {
                    let until = pass.valid_until.as_deref().unwrap_or("no end of validity");
                    shown.push(format!("{} ({until})", pass.id));
                }
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if valid > 0 {
        bail!(
            "event {event} has not ended: {valid} of its {total} passes are still valid (e.g. {}); \
             a purge erases every pass for good and they stop working. Purge once every pass's \
             valid_until is past, or with --force if the event is over anyway; nothing was erased",
            shown.join(", ")
        );
    }
    Ok(())
}

/// Walks the event's passes a page at a time ([`LIST_MAX`]) and erases
/// each; an erased pass stays listed, so the cursor walk sees every pass
/// once. Without `force`, a pass still valid (issued or changed since the
/// check) stops the walk. Stops at the first failure, saying how many were
/// erased.
async fn purge(
    client: &AdminClient,
    admin: &AdminArgs,
    event: &str,
    reason: &str,
    force: bool,
) -> Result<()> {
    let body = serde_json::json!({ "reason": reason });
    let (mut erased, mut after) = (0usize, None::<String>);
    let now = scangate_gateway::now_ms();
    loop {
        let page = page_of(client, event, after.as_deref()).await?;
        for pass in &page.items {
            if !force && !has_ended(pass, now)? {
                bail!(
                    "erased {erased} passes of the event, then found pass {} still valid \
                     (issued or changed during the purge); run the purge again once it has ended",
                    pass.id
                );
            }
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
