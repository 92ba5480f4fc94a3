//! After `scangate certs revoke` wrote a revocation into the data directory:
//! asks the gateway running there to enforce it now, and says whether it did.

use crate::admin_client::{self, AdminArgs};
use crate::terminal::Shown;
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::devices::RECHECK_INTERVAL;
use std::time::Duration;

/// How long `scangate certs revoke` waits for the running gateway to confirm
/// that it refuses the device: a gateway that takes longer is stuck, and
/// still finds the change by itself within [`RECHECK_INTERVAL`].
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the gateway running on a data directory enforces a revocation.
#[derive(Debug)]
pub enum Enforcement {
    /// It answered: it refuses the device from now on, open connections too.
    Confirmed,
    /// No gateway runs on this data directory (no `gateway.json`, or nothing
    /// listens there): one started later reads the list at start.
    NoGateway,
    /// A gateway runs but did not confirm (why); it finds the change by
    /// itself within [`RECHECK_INTERVAL`].
    Unconfirmed(String),
}

/// After the CLI wrote a revocation: asks the gateway running on `data` to
/// enforce it now, through `POST /v1/devices/{name}/revoke` (which finds the
/// device revoked, records nothing more, and answers only once the gateway
/// refuses it), so the command returns when the revocation holds.
pub async fn confirm_running(data: &DataDir, name: &str) -> Enforcement {
    if data.read_endpoints().is_err() {
        return Enforcement::NoGateway;
    }
    let args = AdminArgs {
        http: None,
        json: false,
    };
    let client = match admin_client::connect(data, &args) {
        Ok(c) => c,
        Err(e) => return Enforcement::Unconfirmed(format!("{e:#}")),
    };
    let path = format!("/v1/devices/{name}/revoke");
    let body = serde_json::json!({});
    let asked = client.post::<_, serde_json::Value>(&path, &body);
    match tokio::time::timeout(CONFIRM_TIMEOUT, asked).await {
        Ok(Ok(_)) => Enforcement::Confirmed,
        Ok(Err(e)) if e.is_connect() => Enforcement::NoGateway,
        Ok(Err(e)) => Enforcement::Unconfirmed(format!("{:#}", anyhow::Error::from(e))),
        Err(_) => Enforcement::Unconfirmed(format!("no answer within {CONFIRM_TIMEOUT:?}")),
    }
}

/// Prints what `scangate certs revoke` did (`done`) and whether the running
/// gateway enforces it ([`confirm_running`]).
pub async fn report_enforcement(data: &DataDir, name: &str, done: &str) {
    match confirm_running(data, name).await {
        Enforcement::Confirmed => {
            println!("device {name} {done}; the running gateway refuses it from now on")
        }
        Enforcement::NoGateway => println!(
            "device {name} {done}; no gateway is running on this data dir (one started on it refuses the device)"
        ),
        Enforcement::Unconfirmed(why) => {
            println!("device {name} {done}");
            eprintln!(
                "warning: the running gateway did not confirm it ({}); it refuses the device within {RECHECK_INTERVAL:?} by itself",
                Shown(&why)
            );
        }
    }
}
