//! `scangate scanner ...`: the device side of offline operation from the
//! terminal. `snapshot` fetches (or refreshes) an event's signed snapshot
//! into an offline dir; `sync` uploads the offline grants queued there and
//! refreshes the snapshot. `scangate scan --offline-dir` decides from that
//! dir when the gateway cannot be reached. The state is the scanner SDK's
//! (`scangate_client::offline`); this module only wires it to the command
//! line and prints what happened.
//!
//! Modules: [`device`] (the options the three commands share, opening the
//! state), [`why`] (one line saying why an offline operation failed),
//! [`enroll`] (`scanner enroll`: a web scanner's one-time link).

pub mod device;
pub mod enroll;
pub mod why;

use crate::scan_cmd::EXIT_UNDECIDED;
use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use device::DeviceArgs;
use scangate_api::rfc3339;
use scangate_client::offline::files::read_key_file;
use scangate_client::{Refreshed, SyncReport};
use scangate_core::offline::SnapshotVerifier;
use scangate_gateway::datadir::DataDir;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use why::explain;

/// `scangate scanner ...`.
#[derive(Debug, Subcommand)]
pub enum ScannerCommand {
    /// Fetch or refresh an event's signed offline snapshot into the offline
    /// dir (the gateway's public key pinned there on first use).
    Snapshot(SnapshotArgs),
    /// Upload the offline grants queued in the offline dir, then refresh its
    /// snapshot; exit 0 when the queue is empty afterwards, else 2.
    Sync(SyncArgs),
    /// Enroll a browser as a web scanner (the guard page, `/scanner`):
    /// prints a one-time link (and its QR code) for the guard's phone.
    Enroll(enroll::EnrollArgs),
}

/// `scangate scanner snapshot`.
#[derive(Debug, Args)]
#[command(mut_arg("offline_dir", |a| a.required(true)))]
pub struct SnapshotArgs {
    /// The event whose snapshot to hold (remembered in the offline dir).
    #[arg(long)]
    pub event: String,
    /// The gateway's public snapshot key (a file of 64 hex digits); default:
    /// DATA/offline-signing-key.pub when it exists, else the key pinned in
    /// the offline dir.
    #[arg(long)]
    pub snapshot_key: Option<std::path::PathBuf>,
    /// The gateway, the device and the offline dir.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `scangate scanner sync`.
#[derive(Debug, Args)]
#[command(mut_arg("offline_dir", |a| a.required(true)))]
pub struct SyncArgs {
    /// The gateway, the device and the offline dir.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs a scanner command.
pub async fn run(data: &DataDir, cmd: ScannerCommand) -> Result<ExitCode> {
    match cmd {
        ScannerCommand::Snapshot(args) => snapshot(data, args).await,
        ScannerCommand::Sync(args) => sync(data, args).await,
        ScannerCommand::Enroll(args) => enroll::run(data, args),
    }
}

async fn snapshot(data: &DataDir, args: SnapshotArgs) -> Result<ExitCode> {
    let dir = args.device.offline_dir()?;
    let event = device::event_for(dir, Some(&args.event))?;
    let key = snapshot_key(data, args.snapshot_key.as_deref())?;
    let config = args.device.scanner_config(data)?;
    let mut scanner = device::open(config, dir, &event, key)?;
    let refreshed = scanner.refresh(scangate_gateway::now_ms()).await;
    scanner.close().await;
    let refreshed = refreshed.map_err(|e| anyhow!(explain(&e)))?;
    device::remember_event(dir, &event)?;
    let out = refreshed_json(&event, &refreshed, dir);
    if args.json {
        println!("{out}");
    } else {
        println!("{}", refreshed_line(&out));
    }
    Ok(ExitCode::SUCCESS)
}

/// The key to pin: `--snapshot-key`, else the data dir's public key file
/// when the CLI runs beside the gateway, else none (the pinned one is used).
fn snapshot_key(data: &DataDir, given: Option<&Path>) -> Result<Option<SnapshotVerifier>> {
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => data.offline_public_key(),
    };
    let key = read_key_file(&path).map_err(|e| anyhow!(explain(&e)))?;
    if key.is_none() && given.is_some() {
        return Err(anyhow!("--snapshot-key {}: no such file", path.display()));
    }
    Ok(key)
}

async fn sync(data: &DataDir, args: SyncArgs) -> Result<ExitCode> {
    let dir = args.device.offline_dir()?;
    let event = device::event_for(dir, None)?;
    let config = args.device.scanner_config(data)?;
    let mut scanner = device::open(config, dir, &event, None)?;
    let result = scanner.sync(scangate_gateway::now_ms()).await;
    let pending = scanner.queue().len();
    let queue_file = dir.join(scangate_client::queue::QUEUE_FILE);
    let queue_file = queue_file.display();
    scanner.close().await;
    let report = match result {
        Ok(report) => report,
        // Nothing was waiting: the queue is empty, only the refresh failed.
        Err(e) if pending == 0 => SyncReport {
            refresh: Some(Err(e)),
            ..SyncReport::default()
        },
        Err(e) => {
            let why = explain(&e);
            if args.json {
                println!("{}", json!({"pending": pending, "error": why}));
            }
            eprintln!(
                "error: the upload stopped: {}; {pending} offline scan(s) wait in {queue_file}",
                crate::terminal::Shown(&why)
            );
            return Ok(ExitCode::from(EXIT_UNDECIDED));
        }
    };
    let out = sync_json(&event, &report, dir);
    if args.json {
        println!("{out}");
    } else {
        println!("{}", sync_line(&out));
    }
    if let Some(Err(e)) = &report.refresh {
        eprintln!(
            "warning: the snapshot was not refreshed: {}",
            crate::terminal::Shown(&explain(e))
        );
    }
    if report.pending > 0 {
        eprintln!(
            "error: {} offline scan(s) still wait in {queue_file} (the gateway could not record \
             them yet); run `scangate scanner sync` again",
            report.pending
        );
        return Ok(ExitCode::from(EXIT_UNDECIDED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `{"event","version","passes","bytes","held_bytes","delta","expires"}`.
fn refreshed_json(event: &str, r: &Refreshed, dir: &Path) -> Value {
    json!({
        "event": event,
        "version": r.version,
        "passes": r.entries,
        "bytes": r.bytes,
        "held_bytes": device::held_bytes(dir),
        "delta": r.delta,
        "expires": rfc3339(r.expires_ms),
    })
}

/// `{"uploaded","conflicts","dropped","pending","refresh"}`; `refresh` is
/// [`refreshed_json`] or `{"error": WHY}`.
fn sync_json(event: &str, report: &SyncReport, dir: &Path) -> Value {
    let refresh = match &report.refresh {
        Some(Ok(r)) => refreshed_json(event, r, dir),
        Some(Err(e)) => json!({"error": explain(e)}),
        None => Value::Null,
    };
    json!({
        "uploaded": report.uploaded,
        "conflicts": report.conflicts,
        "dropped": report.dropped,
        "pending": report.pending,
        "refresh": refresh,
    })
}

/// The human line of a refresh, from its JSON.
fn refreshed_line(r: &Value) -> String {
    let how = if r["bytes"] == 0 {
        "already current".to_owned()
    } else if r["delta"] == true {
        format!("{} bytes downloaded (a delta)", r["bytes"])
    } else {
        format!("{} bytes downloaded", r["bytes"])
    };
    format!(
        "snapshot of {}: version {}, {} passes, {how}, {} bytes held, expires {}",
        r["event"], r["version"], r["passes"], r["held_bytes"], r["expires"]
    )
}

/// The human line of a sync, from its JSON.
fn sync_line(s: &Value) -> String {
    let refresh = match &s["refresh"] {
        r if r["version"].is_u64() => refreshed_line(r),
        _ => "snapshot not refreshed".to_owned(),
    };
    format!(
        "uploaded {}, of which {} conflict(s); dropped {}; pending {}; {refresh}",
        s["uploaded"], s["conflicts"], s["dropped"], s["pending"]
    )
}
