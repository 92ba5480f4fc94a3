//! `scangate scanner enroll NAME`: a one-time link that makes the browser
//! opening it a web scanner named NAME (the guard page, `/scanner`). The
//! link is printed once, and as a QR code for a phone's camera; it works
//! for [`ENROLL_LINK_TTL_MS`] and only once. The secret rides in the
//! link's fragment, which a browser never sends in a request.

use anyhow::{Context, Result};
use clap::Args;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use scangate_core::name::check_name;
use scangate_core::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES};
use scangate_gateway::datadir::DataDir;
use scangate_gateway::edge::web::scanners::{ENROLL_LINK_TTL_MS, enroll};
use serde_json::json;
use std::process::ExitCode;

/// `scangate scanner enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The device name (1-64 of a-z A-Z 0-9 - _ .), as `certs list` and
    /// `certs revoke` will show and take it.
    pub name: String,
    /// The gate the guard stands at (the page sends it with every scan).
    #[arg(long, default_value = "main")]
    pub gate: String,
    /// The event the guard admits to, if it checks one.
    #[arg(long)]
    pub event: Option<String>,
    /// The gateway's address as the phone reaches it, e.g.
    /// `https://gate.example:8443` (default: the running gateway's public
    /// listener from the data dir, else its HTTP address, with https when
    /// it serves TLS).
    #[arg(long)]
    pub url: Option<String>,
    /// Print one JSON object (`{"device","link","expires_in_s"}`), no QR.
    #[arg(long)]
    pub json: bool,
}

/// Issues the link, prints it (and its QR code).
pub fn run(data: &DataDir, args: EnrollArgs) -> Result<ExitCode> {
    check_name("gate", &args.gate, GATE_MAX_BYTES)?;
    if let Some(event) = &args.event {
        check_name("event", event, EVENT_MAX_BYTES)?;
    }
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => default_base(data)?,
    };
    let who = scangate_gateway::operator::journal::cli_who();
    let secret = enroll(data, &args.name, &who, scangate_gateway::now_ms())?;
    let mut fragment = form_urlencoded::Serializer::new(String::new());
    fragment.append_pair("enroll", &secret);
    fragment.append_pair("gate", &args.gate);
    if let Some(event) = &args.event {
        fragment.append_pair("event", event);
    }
    let link = format!("{base}/scanner#{}", fragment.finish());
    let expires_in_s = ENROLL_LINK_TTL_MS / 1_000;
    if args.json {
        println!(
            "{}",
            json!({"device": args.name, "link": link, "expires_in_s": expires_in_s})
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "web scanner {:?}: open this link once on the guard's phone within {} minutes \
         (it is shown once; it makes that browser the device):",
        args.name,
        expires_in_s / 60
    );
    println!("{link}");
    if let Ok(code) = QrCode::new(link.as_bytes()) {
        let art = code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build();
        eprintln!("{art}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `http(s)://HOST:PORT` of the gateway running on this data dir: its
/// public listener (always https) when it has one, else its HTTP plane
/// (https when it serves TLS). A gateway listening on all addresses is
/// named by its loopback address here, which a phone cannot reach: `--url`
/// names the address phones use.
fn default_base(data: &DataDir) -> Result<String> {
    let endpoints = data
        .read_endpoints()
        .context("give the address phones reach the gateway at with --url https://HOST:PORT")?;
    Ok(phone_base(&endpoints))
}

/// The base URL phones use for the gateway of `endpoints`.
pub fn phone_base(endpoints: &scangate_gateway::datadir::Endpoints) -> String {
    if let Some(public) = endpoints.public {
        return format!("https://{public}");
    }
    let scheme = if endpoints.http_tls { "https" } else { "http" };
    format!("{scheme}://{}", endpoints.http)
}
