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
    /// Admin API tokens with roles (admin, operator, viewer).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Operate on passes through the admin API.
    #[command(subcommand)]
    Pass(pass_cmd::PassCommand),
    /// Scan a token from the terminal, as a scanner would.
    Scan(scan_cmd::ScanArgs),
    /// The audit of admin actions (the operator journal).
    #[command(subcommand)]
    Audit(crate::audit_cmd::AuditCommand),
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
    /// List scanner devices and whether they are revoked.
    List {
        /// Print JSON (one object per line).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a scanner device: a running gateway refuses it from now on.
    Revoke {
        /// The device name.
        name: String,
        /// Why (kept in the operator journal).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `scangate token ...`: works on the data directory; a running gateway
/// sees the change at its next request.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is kept).
    Create {
        /// admin, operator or viewer.
        #[arg(long)]
        role: crate::tokens::Role,
        /// Its name (the `who` of the audit log).
        #[arg(long)]
        name: String,
        /// Why (kept in the operator journal).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revoke the token with this name.
    Revoke {
        /// The token's name.
        name: String,
        /// Why (kept in the operator journal).
        #[arg(long)]
        reason: Option<String>,
    },
    /// List tokens (names and roles, never the tokens).
    List {
        /// Print JSON (one object per line).
        #[arg(long)]
        json: bool,
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
        Command::Token(cmd) => token(&data, cmd),
        Command::Pass(cmd) => pass_cmd::run(&data, cmd).await,
        Command::Scan(args) => scan_cmd::run(&data, args).await,
        Command::Audit(cmd) => crate::audit_cmd::run(&data, cmd).await,
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
        CertsCommand::List { json } => {
            let revoked = crate::devices::list(&data.revoked_devices())?;
            for name in crate::devices::issued(&data.pki())? {
                let r = revoked.iter().find(|r| r.name == name);
                if json {
                    let v =
                        serde_json::json!({"name": name, "revoked": r.is_some(), "revocation": r});
                    println!("{v}");
                } else if let Some(r) = r {
                    println!(
                        "{name} revoked at {} by {}",
                        crate::api::rfc3339(r.at_ms),
                        r.who
                    );
                } else {
                    println!("{name}");
                }
            }
        }
        CertsCommand::Revoke { name, reason } => {
            let who = crate::journal::cli_who();
            let now = crate::now_ms();
            if crate::devices::revoke_recorded(data, &name, &who, reason.as_deref(), now)? {
                println!("device {name} revoked; a running gateway refuses it within a second");
            } else {
                println!("device {name} was already revoked");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn token(data: &DataDir, cmd: TokenCommand) -> Result<ExitCode> {
    crate::datadir::create_private_dir(data.root())?;
    let path = data.admin_tokens();
    match cmd {
        TokenCommand::Create { role, name, reason } => {
            let who = crate::journal::cli_who();
            let (reason, now) = (reason.as_deref(), crate::now_ms());
            let token = crate::tokens::create_recorded(data, &name, role, &who, reason, now)?;
            eprintln!(
                "token {name:?} ({}) created; it is shown once, keep it safe:",
                role.as_str()
            );
            println!("{token}");
        }
        TokenCommand::Revoke { name, reason } => {
            let who = crate::journal::cli_who();
            let (reason, now) = (reason.as_deref(), crate::now_ms());
            crate::tokens::revoke_recorded(data, &name, &who, reason, now)?;
            println!("token {name:?} revoked");
        }
        TokenCommand::List { json } => {
            println!(
                "{}",
                if json {
                    serde_json::json!({"name": crate::tokens::BOOTSTRAP, "role": "admin"})
                        .to_string()
                } else {
                    format!(
                        "{} admin (the first-start admin-token)",
                        crate::tokens::BOOTSTRAP
                    )
                }
            );
            for t in crate::tokens::list(&path)? {
                if json {
                    let v = serde_json::json!({"name": t.name, "role": t.role, "created_at": crate::api::rfc3339(t.created_ms)});
                    println!("{v}");
                } else {
                    println!(
                        "{} {} created {}",
                        t.name,
                        t.role.as_str(),
                        crate::api::rfc3339(t.created_ms)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
