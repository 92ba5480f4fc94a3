//! The admin API's client side for `scangate pass`, `scangate audit` and the
//! other operator commands: finds the gateway and the admin token in the data
//! directory (or takes them from flags) and opens the one admin client,
//! [`AdminClient`] of `scangate-api`, which turns error bodies into one
//! clear sentence.

use anyhow::Result;
use scangate_gateway::datadir::DataDir;
use std::time::Duration;

pub use scangate_api::AdminClient;

/// How long one admin request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the admin API is and how to authenticate.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The admin API's base URL (default: the gateway running on this data dir).
    #[arg(long, global = true, env = "SCANGATE_HTTP")]
    pub http: Option<String>,
    /// Print JSON (one object per line).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The HTTP plane's base URL: `--http`, or the gateway running on `data`.
pub fn base_url(data: &DataDir, args: &AdminArgs) -> Result<String> {
    Ok(match &args.http {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", data.read_endpoints()?.http),
    })
}

/// A client for the gateway of `data` (or `--http`), with its admin token.
pub fn connect(data: &DataDir, args: &AdminArgs) -> Result<AdminClient> {
    let base = base_url(data, args)?;
    Ok(AdminClient::new(
        &base,
        data.read_admin_token()?,
        REQUEST_TIMEOUT,
    )?)
}
