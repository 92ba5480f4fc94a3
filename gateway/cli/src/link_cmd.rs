//! `scangate pass link ID [--revoke]`: make (or revoke) a pass's holder
//! link through the admin API. The link's secret is printed this once; the
//! gateway keeps only its hash.

use crate::admin_client::{self, AdminArgs};
use anyhow::Result;
use clap::Args;
use scangate_api::{HolderLinkRevoked, HolderLinkView};
use scangate_core::PassId;
use scangate_gateway::datadir::DataDir;

/// `scangate pass link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// The pass id (32 hexadecimal digits; nothing else reaches the URL).
    pub id: PassId,
    /// Revoke the pass's link instead: it answers 404 from now on.
    #[arg(long)]
    pub revoke: bool,
}

/// Makes or revokes the link and prints the answer.
pub async fn run(data: &DataDir, args: LinkArgs) -> Result<()> {
    let client = admin_client::connect(data, &args.admin)?;
    let id = args.id;
    if args.revoke {
        let done: HolderLinkRevoked = client
            .post(
                &format!("/v1/passes/{id}/link/revoke"),
                &serde_json::json!({}),
            )
            .await?;
        if args.admin.json {
            println!("{}", serde_json::to_string(&done)?);
        } else if done.revoked {
            println!("pass {id}: its holder link is revoked");
        } else {
            println!("pass {id} had no holder link");
        }
        return Ok(());
    }
    let link: HolderLinkView = client
        .post(&format!("/v1/passes/{id}/link"), &serde_json::json!({}))
        .await?;
    let url = format!("{}{}", holder_base(data, &args.admin)?, link.path);
    if args.admin.json {
        let mut out = serde_json::to_value(&link)?;
        out["url"] = serde_json::Value::String(url);
        println!("{out}");
    } else {
        println!("{url}");
        eprintln!(
            "holder link of pass {id}: shown this once (the gateway keeps only its hash); \
             making a new one revokes it"
        );
    }
    Ok(())
}

/// Where the holder opens the link: unless `--http` names another
/// gateway, the running gateway's public listener when it has one, else
/// its HTTP plane with the scheme that plane serves (https under
/// `--http-tls`, where the CLI itself still speaks plain HTTP over
/// loopback); with `--http`, that address.
fn holder_base(data: &DataDir, admin: &AdminArgs) -> Result<String> {
    if admin.http.is_none()
        && let Ok(endpoints) = data.read_endpoints()
    {
        return Ok(crate::scanner_cmd::enroll::phone_base(&endpoints));
    }
    admin_client::base_url(data, admin)
}
