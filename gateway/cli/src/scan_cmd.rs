//! `scangate scan TOKEN`: one scan from the terminal through the scanner SDK.
//!
//! Without `--offline-dir` the gateway decides (the SDK's defaults: three
//! attempts). With it the scan goes through the SDK's `OfflineScanner` on
//! the state in that dir: one online try (a handshake within
//! [`SCAN_CONNECT_TIMEOUT_MS`], one attempt), and when the gateway cannot
//! be reached the device decides from its snapshot and queues a grant for
//! `scangate scanner sync`. The answer says which: `"offline": true|false`
//! (always present; `false` without `--offline-dir`).

use crate::scanner_cmd::device::{self, DeviceArgs, SCAN_ATTEMPTS, SCAN_CONNECT_TIMEOUT_MS};
use crate::scanner_cmd::why::explain;
use crate::terminal::Shown;
use anyhow::{Context, Result};
use clap::Args;
use scangate_client::{Decided, Direction, ScanInput, ScanOptions, Scanner};
use scangate_core::ScanId;
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::api::decision_word;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// Exit status when the scan was decided `granted`.
pub const EXIT_GRANTED: u8 = 0;
/// Exit status when the scan was decided `denied`.
pub const EXIT_DENIED: u8 = 1;
/// Exit status when the scan could not be decided (no gateway and no valid
/// snapshot included).
pub const EXIT_UNDECIDED: u8 = 2;

/// `scangate scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The token read from the QR code.
    pub token: String,
    /// The gate this scan happens at.
    #[arg(long)]
    pub gate: String,
    /// The event this scanner admits to (passes of other events are
    /// `wrong_event`); with `--offline-dir`, default: the event of the
    /// dir's snapshot.
    #[arg(long)]
    pub event: Option<String>,
    /// The scan id (a retry reuses it); random if not given.
    #[arg(long)]
    pub scan_id: Option<String>,
    /// An entry (`in`) or an exit (`out`), for a gate of an event with a
    /// definition that lets people pass both ways. Online only.
    #[arg(long, value_parser = parse_direction)]
    pub direction: Option<Direction>,
    /// Only check: the decision and reason, without using an entry,
    /// moving the pass or recording the scan id. Online only.
    #[arg(long)]
    pub check: bool,
    /// The gateway, the device and the offline dir.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs one scan; exit 0 granted, 1 denied, 2 undecided.
pub async fn run(data: &DataDir, args: ScanArgs) -> Result<ExitCode> {
    let scan_id = args
        .scan_id
        .clone()
        .map(ScanId::new)
        .transpose()
        .context("--scan-id")?;
    let decided = match args.device.offline_dir.as_deref() {
        None => online(data, &args, scan_id).await?,
        Some(_) if args.check || args.direction.is_some() => {
            anyhow::bail!("--check and --direction need the gateway: leave out --offline-dir")
        }
        Some(dir) => offline(data, &args, dir, scan_id).await?,
    };
    let decided = match decided {
        Ok(decided) => decided,
        Err(why) => {
            eprintln!("error: the scan could not be decided: {}", Shown(&why));
            return Ok(ExitCode::from(EXIT_UNDECIDED));
        }
    };
    print_decided(&decided, args.json);
    Ok(ExitCode::from(if decided.reply.decision.is_granted() {
        EXIT_GRANTED
    } else {
        EXIT_DENIED
    }))
}

/// The gateway decides; `Err(why)` when it could not.
async fn online(
    data: &DataDir,
    args: &ScanArgs,
    scan_id: Option<ScanId>,
) -> Result<Result<Decided, String>> {
    let config = args.device.scanner_config(data)?;
    let addr = config.server_addr;
    let scanner = Scanner::connect(config)
        .await
        .with_context(|| format!("cannot connect to the gateway at {addr}"))?;
    let options = ScanOptions {
        direction: args.direction,
        check_only: args.check,
    };
    let result = scanner
        .scan_with(input(args, args.event.clone(), scan_id), options)
        .await;
    scanner.close().await;
    Ok(result.map(Decided::from).map_err(|e| e.to_string()))
}

/// The gateway decides if it answers at once, else the snapshot in `dir`;
/// `Err(why)` when neither could.
async fn offline(
    data: &DataDir,
    args: &ScanArgs,
    dir: &Path,
    scan_id: Option<ScanId>,
) -> Result<Result<Decided, String>> {
    let event = device::event_for(dir, args.event.as_deref())?;
    let mut config = args.device.scanner_config(data)?;
    config.attempts = SCAN_ATTEMPTS;
    config.connect_timeout_ms = SCAN_CONNECT_TIMEOUT_MS;
    let mut scanner = device::open(config, dir, &event, None)?;
    let result = scanner
        .scan(
            input(args, Some(event), scan_id),
            scangate_gateway::now_ms(),
        )
        .await;
    // An online grant is written down now: this process ends here, and a
    // snapshot made before the grant would let the ticket in again offline.
    let saved = match &result {
        Ok(d) if !d.is_offline() && d.reply.decision.is_granted() => scanner.save_uses(),
        _ => Ok(()),
    };
    scanner.close().await;
    if let Err(e) = saved {
        eprintln!(
            "warning: the online grant is not recorded in the offline dir: {}",
            Shown(&explain(&e))
        );
    }
    Ok(result.map_err(|e| explain(&e)))
}

fn input(args: &ScanArgs, event: Option<String>, scan_id: Option<ScanId>) -> ScanInput {
    ScanInput {
        token: args.token.clone(),
        gate: args.gate.clone(),
        event,
        scan_id,
    }
}

fn parse_direction(text: &str) -> Result<Direction, String> {
    text.parse()
}

fn print_decided(decided: &Decided, as_json: bool) {
    let reply = &decided.reply;
    let word = decision_word(reply.decision.is_granted());
    let reason = reply.decision.reason().map(|r| r.as_str());
    let guard = reply.guard.clone().unwrap_or_default();
    if as_json {
        let out = json!({
            "valid_until_ms": guard.valid_until_ms,
            "inside": guard.inside,
            "zone": guard.zone,
            "zones": guard.zones,
            "decision": word,
            "reason": reason,
            "uses": reply.uses,
            "max_uses": reply.max_uses,
            "scan_id": reply.scan_id.as_str(),
            "pass": reply.pass,
            "display": reply.display,
            "replayed": reply.replayed,
            "offline": decided.is_offline(),
        });
        println!("{out}");
        return;
    }
    let uses = match (reply.uses, reply.max_uses) {
        (Some(u), Some(m)) => format!(" (uses {u}/{m})"),
        (Some(u), None) => format!(" (uses {u}, unlimited)"),
        _ => String::new(),
    };
    let replayed = if reply.replayed {
        ", repeated answer"
    } else {
        ""
    };
    let offline = if decided.is_offline() {
        ", decided offline (queued for upload when granted)"
    } else {
        ""
    };
    let place = match (guard.inside, &guard.zone) {
        (Some(true), Some(zone)) => format!(", inside {}", Shown(zone)),
        (Some(false), _) => ", outside".to_owned(),
        _ => String::new(),
    };
    match reason {
        None => println!("{word}{uses}{place}{replayed}{offline}"),
        Some(r) => println!("{word}: {r}{uses}{place}{replayed}{offline}"),
    }
    if let Some(display) = &reply.display {
        println!("{}", Shown(display));
    }
}
