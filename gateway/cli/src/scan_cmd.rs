//! `scangate scan TOKEN`: one scan from the terminal through the scanner SDK.

use crate::terminal::Shown;
use anyhow::{Context, Result};
use clap::Args;
use scangate_client::{ScanInput, Scanner, ScannerConfig};
use scangate_core::ScanId;
use scangate_core::wire::ScanReply;
use scangate_gateway::datadir::{DEV_SCANNER, DataDir};
use scangate_gateway::operator::api::decision_word;
use serde_json::json;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Exit status when the scan was decided `granted`.
pub const EXIT_GRANTED: u8 = 0;
/// Exit status when the scan was decided `denied`.
pub const EXIT_DENIED: u8 = 1;
/// Exit status when the scan could not be decided.
pub const EXIT_UNDECIDED: u8 = 2;

/// `scangate scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The token read from the QR code.
    pub token: String,
    /// The gate this scan happens at.
    #[arg(long)]
    pub gate: String,
    /// The event this scanner admits to (passes of other events are `wrong_event`).
    #[arg(long)]
    pub event: Option<String>,
    /// The scan id (a retry reuses it); random if not given.
    #[arg(long)]
    pub scan_id: Option<String>,
    /// The gateway's QUIC address (default: the one running on this data dir).
    #[arg(long, env = "SCANGATE_GATEWAY")]
    pub gateway: Option<SocketAddr>,
    /// The scanner certificate to use, by name, from the data dir's PKI.
    #[arg(long, default_value = DEV_SCANNER)]
    pub device: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs one scan; exit 0 granted, 1 denied, 2 undecided.
pub async fn run(data: &DataDir, args: ScanArgs) -> Result<ExitCode> {
    let scan_id = args
        .scan_id
        .map(ScanId::new)
        .transpose()
        .context("--scan-id")?;
    let addr = match args.gateway {
        Some(addr) => addr,
        None => data.read_endpoints()?.quic,
    };
    let pki = data.pki();
    let config = ScannerConfig::from_files(
        addr,
        &pki.join("ca.pem"),
        &pki.join("scanners").join(format!("{}.pem", args.device)),
        &pki.join("scanners").join(format!("{}.key", args.device)),
    )?;
    let scanner = Scanner::connect(config)
        .await
        .with_context(|| format!("cannot connect to the gateway at {addr}"))?;
    let result = scanner
        .scan(ScanInput {
            token: args.token,
            gate: args.gate,
            event: args.event,
            scan_id,
        })
        .await;
    scanner.close().await;
    let reply = match result {
        Ok(reply) => reply,
        Err(e) => {
            eprintln!(
                "error: the scan could not be decided: {}",
                Shown(&e.to_string())
            );
            return Ok(ExitCode::from(EXIT_UNDECIDED));
        }
    };
    print_reply(&reply, args.json);
    Ok(ExitCode::from(if reply.decision.is_granted() {
        EXIT_GRANTED
    } else {
        EXIT_DENIED
    }))
}

fn print_reply(reply: &ScanReply, as_json: bool) {
    let word = decision_word(reply.decision.is_granted());
    let reason = reply.decision.reason().map(|r| r.as_str());
    if as_json {
        let out = json!({
            "decision": word,
            "reason": reason,
            "uses": reply.uses,
            "max_uses": reply.max_uses,
            "scan_id": reply.scan_id.as_str(),
            "pass": reply.pass,
            "display": reply.display,
            "replayed": reply.replayed,
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
    match reason {
        None => println!("{word}{uses}{replayed}"),
        Some(r) => println!("{word}: {r}{uses}{replayed}"),
    }
    if let Some(display) = &reply.display {
        println!("{}", Shown(display));
    }
}
