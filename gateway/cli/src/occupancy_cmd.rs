//! `scangate event occupancy E [--json]`: who is inside each zone of an
//! event now, against its capacity (`GET /v1/events/{event}/occupancy`).

use crate::admin_client::{self, AdminArgs};
use crate::terminal::Shown;
use anyhow::Result;
use clap::Args;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::admin::occupancy::OccupancyView;

/// `scangate event occupancy`.
#[derive(Debug, Args)]
pub struct OccupancyArgs {
    /// The event.
    pub event: String,
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Prints the event's zones: one line each (`--json`: the API's object).
pub async fn run(data: &DataDir, args: OccupancyArgs) -> Result<()> {
    let client = admin_client::connect(data, &args.admin)?;
    let path = format!(
        "/v1/events/{}/occupancy",
        utf8_percent_encode(&args.event, NON_ALPHANUMERIC)
    );
    let view: OccupancyView = client.get(&path).await?;
    if args.admin.json {
        println!("{}", serde_json::to_string(&view)?);
        return Ok(());
    }
    println!("{}:", Shown(&view.event));
    for z in &view.zones {
        let zone = Shown(&z.zone);
        match (z.capacity, z.free) {
            (Some(capacity), Some(free)) => {
                println!("  {zone}: {} inside of {capacity}, {free} free", z.inside);
            }
            _ => println!("  {zone}: {} inside, no capacity", z.inside),
        }
    }
    if view.held > 0 {
        println!("  ({} entries being written)", view.held);
    }
    if !view.exact {
        println!("  (this gateway's own count: the store is shared with other gateways)");
    }
    Ok(())
}
