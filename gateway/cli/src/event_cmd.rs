//! `scangate event ...`: operations on every pass of an event.

use crate::admin_client::{self, AdminArgs};
use crate::pass_cmd::Query;
use anyhow::Result;
use clap::Subcommand;
use scangate_api::PageView;
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::api::PassView;
use scangate_gateway::operator::http::LIST_MAX;

/// An event command.
#[derive(Debug, Subcommand)]
pub enum EventCommand {
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

/// Runs an event command.
pub async fn run(data: &DataDir, cmd: EventCommand) -> Result<()> {
    match cmd {
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
