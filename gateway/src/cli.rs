//! Command-line parsing (clap derive) and dispatch. Every command takes
//! `--data-dir` (env `SCANGATE_DATA_DIR`, default `./scangate-data`).

use crate::config::ServeConfig;
use crate::datadir::DataDir;
use crate::{pass_cmd, scan_cmd};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// scangate: an admission gateway for high-volume events.
#[derive(Debug, Parser)]
#[command(name = "scangate", version, about)]
pub struct Cli {
    /// The data directory (store, PKI, signing keys, admin token).
    #[arg(
        long,
        global = true,
        env = "SCANGATE_DATA_DIR",
        default_value = "./scangate-data"
    )]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway on the embedded store.
    Serve(ServeArgs),
    /// The PKI: CA, gateway and scanner certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Operate on passes through the admin API.
    #[command(subcommand)]
    Pass(pass_cmd::PassCommand),
    /// Scan a token from the terminal, as a scanner would.
    Scan(scan_cmd::ScanArgs),
}

/// `scangate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// UDP address for scanners (QUIC).
    #[arg(long, default_value = "0.0.0.0:4433")]
    pub quic: SocketAddr,
    /// TCP address for the operator HTTP plane.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Extra DNS name or IP for the gateway certificate (first start only; repeatable).
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// Sustained scans per second allowed per scanner device.
    #[arg(long, default_value_t = crate::config::RateLimit::default().scans_per_s)]
    pub device_rate: u32,
    /// Scans a device may send at once before the rate applies.
    #[arg(long, default_value_t = crate::config::RateLimit::default().burst)]
    pub device_burst: u32,
    /// Scans waiting for one pass before more are answered `busy`.
    #[arg(long, default_value_t = scangate_actors::RegistryConfig::default().max_queued_per_pass)]
    pub max_queued_per_pass: usize,
    /// Passes with a live actor at once before new ones are answered `busy`.
    #[arg(long, default_value_t = scangate_actors::RegistryConfig::default().max_live_actors)]
    pub max_live_actors: usize,
    /// Scans in flight per scanner connection before more are answered `busy`.
    #[arg(long, default_value_t = crate::config::QuicLimits::default().max_in_flight_per_connection)]
    pub max_in_flight_per_connection: usize,
}

/// `scangate certs ...`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create the CA and the gateway certificate if missing.
    Init {
        /// Extra DNS name or IP for the gateway certificate (repeatable).
        #[arg(long = "name")]
        names: Vec<String>,
    },
    /// Issue a scanner device certificate.
    Scanner {
        /// The device name (1-64 of a-z A-Z 0-9 - _ .).
        name: String,
    },
}

/// `scangate keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key and make it the one that signs; old keys keep
    /// verifying. Restart the gateway to use it.
    Rotate,
}

/// Runs a parsed command line; the exit code follows the scriptable contract.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let data = DataDir::new(&cli.data_dir);
    match cli.command {
        Command::Serve(args) => {
            let mut config = ServeConfig::new(cli.data_dir);
            config.quic_addr = args.quic;
            config.http_addr = args.http;
            config.gateway_names = args.names;
            config.rate.scans_per_s = args.device_rate;
            config.rate.burst = args.device_burst;
            config.registry.max_queued_per_pass = args.max_queued_per_pass;
            config.registry.max_live_actors = args.max_live_actors;
            config.quic.max_in_flight_per_connection = args.max_in_flight_per_connection;
            crate::serve::serve(config, CancellationToken::new()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(cmd) => certs(&data, cmd),
        Command::Keys(KeysCommand::Rotate) => {
            let id = crate::keys::rotate(&data.signing_keys())?;
            println!("key {id} now signs new tokens; restart the gateway to use it");
            Ok(ExitCode::SUCCESS)
        }
        Command::Pass(cmd) => pass_cmd::run(&data, cmd).await,
        Command::Scan(args) => scan_cmd::run(&data, args).await,
    }
}

fn certs(data: &DataDir, cmd: CertsCommand) -> Result<ExitCode> {
    crate::datadir::create_private_dir(data.root())?;
    let pki = scangate_certs::Pki::open(&data.pki());
    match cmd {
        CertsCommand::Init { names } => {
            let report = pki.init(&names)?;
            if report.created.is_empty() {
                println!("the PKI in {} already exists", data.pki().display());
            }
            for path in report.created {
                println!("created {}", path.display());
            }
        }
        CertsCommand::Scanner { name } => {
            let files = pki.issue_scanner(&name)?;
            println!("certificate {}", files.cert.display());
            println!("private key {}", files.key.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
