//! Command-line parsing (clap derive) and dispatch. Every command takes
//! `--data-dir` (env `SCANGATE_DATA_DIR`, default `./scangate-data`).

use crate::{pass_cmd, scan_cmd};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use scangate_gateway::config::StoreBackend;
use scangate_gateway::datadir::DataDir;
use scangate_storage_scylla::{
    Password, Replication, ScyllaConfig, SerialChoice, WriteConsistency,
};
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
    /// Run the gateway (on the embedded store unless `--store scylla`); boxed,
    /// as its flags make it far larger than every other command.
    Serve(Box<ServeArgs>),
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
    /// Scan a token from the terminal, as a scanner would (with
    /// `--offline-dir`, decided from the snapshot when the gateway is out of reach).
    Scan(scan_cmd::ScanArgs),
    /// A scanner's offline state: fetch the snapshot, upload the queue.
    #[command(subcommand)]
    Scanner(crate::scanner_cmd::ScannerCommand),
    /// The audit of admin actions (the operator journal).
    #[command(subcommand)]
    Audit(crate::audit_cmd::AuditCommand),
    /// Offline scans that broke a rule, as the gateway flagged them on upload.
    #[command(subcommand)]
    Conflicts(crate::conflicts_cmd::ConflictsCommand),
    /// Fraud flags scans raised (rapid_rescan, shared_code, impossible_travel).
    #[command(subcommand)]
    Flags(crate::flags_cmd::FlagsCommand),
    /// Forged and malformed tokens the gateway refused (security incidents).
    #[command(subcommand)]
    Incidents(crate::flags_cmd::IncidentsCommand),
    /// An event's definition (gates, zones, entry/exit policy), and
    /// `purge`: erase an ended event's personal data at once.
    #[command(subcommand)]
    Event(crate::event_cmd::EventCommand),
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
    /// Fraud flag policy (JSON: thresholds, which flags deny, walking
    /// times between gates); default: every flag raised, none denies.
    #[arg(long)]
    pub flag_policy: Option<std::path::PathBuf>,
    /// Sustained scans per second allowed per scanner device.
    #[arg(long, default_value_t = scangate_gateway::config::RateLimit::default().scans_per_s)]
    pub device_rate: std::num::NonZeroU32,
    /// Scans a device may send at once before the rate applies.
    #[arg(long, default_value_t = scangate_gateway::config::RateLimit::default().burst)]
    pub device_burst: std::num::NonZeroU32,
    /// Scans waiting for one pass before more are answered `busy`.
    #[arg(long, default_value_t = scangate_actors::RegistryConfig::default().max_queued_per_pass)]
    pub max_queued_per_pass: usize,
    /// Deadline of one store call, ms (below the 5 s call deadline). A write
    /// still pending then is answered `unavailable` and waited for.
    #[arg(
        long,
        default_value_t = scangate_actors::RegistryConfig::default().store_timeout_ms,
        value_parser = clap::value_parser!(u64).range(1..scangate_actors::config::DEFAULT_CALL_TIMEOUT_MS)
    )]
    pub store_timeout_ms: u64,
    /// Passes with a live actor at once before new ones are answered `busy`.
    #[arg(long, default_value_t = scangate_actors::RegistryConfig::default().max_live_actors)]
    pub max_live_actors: usize,
    /// Scans in flight per scanner connection before more are answered `busy`.
    #[arg(long, default_value_t = scangate_gateway::config::QuicLimits::default().max_in_flight_per_connection)]
    pub max_in_flight_per_connection: usize,
    /// Scanner connections at once (taken only after a finished handshake).
    #[arg(long, default_value_t = scangate_gateway::config::QuicLimits::default().max_connections,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Handshakes in progress at once (address-validated peers only).
    #[arg(long, default_value_t = scangate_gateway::config::QuicLimits::default().max_handshakes,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_handshakes: usize,
    /// Handshakes in progress at once from one IPv4 address or IPv6 /64.
    #[arg(long, default_value_t = scangate_gateway::config::QuicLimits::default().max_handshakes_per_source,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_handshakes_per_source: usize,
    /// Receive buffer asked of the kernel for the QUIC socket, bytes (it
    /// grants at most `net.core.rmem_max`; the gateway warns when less).
    #[arg(long, default_value_t = scangate_gateway::config::QuicLimits::default().udp_receive_buffer_bytes)]
    pub udp_receive_buffer: usize,
    /// Most operator HTTP connections open at once; one more is answered 503.
    #[arg(long, default_value_t = scangate_gateway::config::HttpLimits::default().max_connections)]
    pub http_max_connections: usize,
    /// An HTTP connection must send a complete request head within this
    /// many ms of opening or of its previous answer, or it is closed.
    #[arg(long, default_value_t = scangate_gateway::config::HttpLimits::default().header_read_timeout_ms)]
    pub http_header_timeout_ms: u64,
    /// An HTTP connection on which no byte moves for this many ms is closed
    /// (more than the 30 s request timeout).
    #[arg(long, default_value_t = scangate_gateway::config::HttpLimits::default().idle_timeout_ms)]
    pub http_idle_timeout_ms: u64,
    /// Serve the HTTP plane over TLS with the gateway's certificate (phones
    /// need https for the guard page's camera); plain HTTP stays allowed
    /// from loopback only.
    #[arg(long)]
    pub http_tls: bool,
    /// The public listener for phones (--public-listen and its TLS).
    #[command(flatten)]
    pub public: crate::public_args::PublicArgs,
    /// Admin API calls per second per admin token; beyond it 429.
    #[arg(long, default_value_t = scangate_gateway::config::HttpLimits::default().admin_rate.per_s)]
    pub admin_rate: std::num::NonZeroU32,
    /// Admin API calls one token may make at once before the rate applies.
    #[arg(long, default_value_t = scangate_gateway::config::HttpLimits::default().admin_rate.burst)]
    pub admin_burst: std::num::NonZeroU32,
    /// Holder page requests per second per client address; beyond it 429.
    #[arg(long, default_value_t = scangate_gateway::config::HttpLimits::default().holder_rate.per_s)]
    pub holder_rate: std::num::NonZeroU32,
    /// Holder page requests one address may make at once before the rate applies.
    #[arg(long, default_value_t = scangate_gateway::config::HttpLimits::default().holder_rate.burst)]
    pub holder_burst: std::num::NonZeroU32,
    /// Where passes and scans are kept: `embedded` (in the data directory)
    /// or `scylla` (a ScyllaDB cluster shared by several gateways).
    #[arg(long, env = "SCANGATE_STORE", value_enum, default_value_t = StoreKind::Embedded)]
    pub store: StoreKind,
    /// ScyllaDB contact points, HOST:PORT, comma separated.
    #[arg(long, env = "SCANGATE_SCYLLA_NODES", value_delimiter = ',')]
    pub scylla_nodes: Vec<String>,
    /// ScyllaDB keyspace (created on first start).
    #[arg(long, env = "SCANGATE_SCYLLA_KEYSPACE", default_value = "scangate")]
    pub scylla_keyspace: String,
    /// ScyllaDB user (password authentication).
    #[arg(long, env = "SCANGATE_SCYLLA_USER")]
    pub scylla_user: Option<String>,
    /// ScyllaDB password; prefer --scylla-password-file.
    #[arg(long, env = "SCANGATE_SCYLLA_PASSWORD", hide_env_values = true)]
    pub scylla_password: Option<String>,
    /// File holding the ScyllaDB password (one line).
    #[arg(
        long,
        env = "SCANGATE_SCYLLA_PASSWORD_FILE",
        conflicts_with = "scylla_password"
    )]
    pub scylla_password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the ScyllaDB nodes' certificates: turns TLS on.
    #[arg(long, env = "SCANGATE_SCYLLA_TLS_CA")]
    pub scylla_tls_ca: Option<PathBuf>,
    /// Replication of a new keyspace: `3` (every datacenter),
    /// `SimpleStrategy:3`, or `dc1:3,dc2:3`.
    #[arg(long, env = "SCANGATE_SCYLLA_REPLICATION", default_value = "3", value_parser = Replication::parse)]
    pub scylla_replication: Replication,
    /// This gateway's ScyllaDB datacenter (requests prefer its nodes).
    #[arg(long, env = "SCANGATE_SCYLLA_LOCAL_DC")]
    pub scylla_local_dc: Option<String>,
    /// Consistency of reads, writes and LWT commits: local_quorum or quorum.
    #[arg(
        long,
        env = "SCANGATE_SCYLLA_CONSISTENCY",
        default_value = "local_quorum"
    )]
    pub scylla_consistency: WriteConsistency,
    /// Paxos consistency of LWTs: local_serial, or serial when gateways run in
    /// several datacenters.
    #[arg(
        long,
        env = "SCANGATE_SCYLLA_SERIAL_CONSISTENCY",
        default_value = "local_serial"
    )]
    pub scylla_serial_consistency: SerialChoice,
    /// Keep scan records, audit records and offline conflicts this many
    /// seconds, then remove them in the background (0: keep for ever).
    #[arg(long, default_value_t = 0)]
    pub retention_s: u64,
}

/// `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// The embedded store in the data directory.
    Embedded,
    /// A ScyllaDB cluster.
    Scylla,
}

impl ServeArgs {
    /// The store these flags choose.
    pub fn backend(&self) -> Result<StoreBackend> {
        if self.store == StoreKind::Embedded {
            return Ok(StoreBackend::Embedded);
        }
        if self.scylla_nodes.is_empty() {
            anyhow::bail!(
                "--store scylla needs --scylla-nodes HOST:PORT,... (or SCANGATE_SCYLLA_NODES)"
            );
        }
        let password = match (&self.scylla_password, &self.scylla_password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).with_context(|| {
                    format!("cannot read the ScyllaDB password file {}", file.display())
                })?;
                Some(text.trim_end_matches(['\r', '\n']).to_owned())
            }
            (None, None) => None,
        };
        Ok(StoreBackend::Scylla(Box::new(ScyllaConfig {
            nodes: self.scylla_nodes.clone(),
            keyspace: self.scylla_keyspace.clone(),
            user: self.scylla_user.clone(),
            password: password.map(Password),
            tls_ca: self.scylla_tls_ca.clone(),
            replication: self.scylla_replication.clone(),
            local_datacenter: self.scylla_local_dc.clone(),
            consistency: self.scylla_consistency,
            serial_consistency: self.scylla_serial_consistency,
            ..ScyllaConfig::default()
        })))
    }
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
    /// List scanner devices (certificates and web scanners) and whether
    /// they are revoked.
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
        role: scangate_gateway::operator::tokens::Role,
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
            let config = args.into_config(cli.data_dir)?;
            scangate_gateway::serve::serve(config, CancellationToken::new()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(cmd) => certs(&data, cmd).await,
        Command::Keys(KeysCommand::Rotate) => {
            let id = scangate_gateway::keys::rotate(&data.signing_keys())?;
            println!("key {id} now signs new tokens; restart the gateway to use it");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(cmd) => token(&data, cmd),
        Command::Pass(cmd) => pass_cmd::run(&data, cmd).await,
        Command::Scan(args) => scan_cmd::run(&data, args).await,
        Command::Scanner(cmd) => crate::scanner_cmd::run(&data, cmd).await,
        Command::Audit(cmd) => crate::audit_cmd::run(&data, cmd).await,
        Command::Conflicts(cmd) => crate::conflicts_cmd::run(&data, cmd).await,
        Command::Flags(cmd) => crate::flags_cmd::run_flags(&data, cmd).await,
        Command::Incidents(cmd) => crate::flags_cmd::run_incidents(&data, cmd).await,
        Command::Event(cmd) => {
            crate::event_cmd::run(&data, cmd).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn certs(data: &DataDir, cmd: CertsCommand) -> Result<ExitCode> {
    scangate_gateway::datadir::create_private_dir(data.root())?;
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
            let revoked = scangate_gateway::operator::devices::list(&data.revoked_devices())?;
            for name in scangate_gateway::operator::devices::known(data)? {
                let r = revoked.iter().find(|r| r.name == name);
                if json {
                    let v =
                        serde_json::json!({"name": name, "revoked": r.is_some(), "revocation": r});
                    println!("{v}");
                } else if let Some(r) = r {
                    println!(
                        "{name} revoked at {} by {}",
                        scangate_gateway::operator::api::rfc3339(r.at_ms),
                        crate::terminal::Shown(&r.who)
                    );
                } else {
                    println!("{name}");
                }
            }
        }
        CertsCommand::Revoke { name, reason } => {
            let who = scangate_gateway::operator::journal::cli_who();
            let now = scangate_gateway::now_ms();
            let revoked = scangate_gateway::operator::devices::revoke_recorded(
                data,
                &name,
                &who,
                reason.as_deref(),
                now,
            )?;
            let done = if revoked.changed {
                "revoked"
            } else {
                "was already revoked"
            };
            crate::revoke_cmd::report_enforcement(data, &name, done).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn token(data: &DataDir, cmd: TokenCommand) -> Result<ExitCode> {
    scangate_gateway::datadir::create_private_dir(data.root())?;
    let path = data.admin_tokens();
    match cmd {
        TokenCommand::Create { role, name, reason } => {
            let who = scangate_gateway::operator::journal::cli_who();
            let (reason, now) = (reason.as_deref(), scangate_gateway::now_ms());
            let token = scangate_gateway::operator::tokens::create_recorded(
                data, &name, role, &who, reason, now,
            )?;
            eprintln!(
                "token {name:?} ({}) created; it is shown once, keep it safe:",
                role.as_str()
            );
            println!("{token}");
        }
        TokenCommand::Revoke { name, reason } => {
            let who = scangate_gateway::operator::journal::cli_who();
            let (reason, now) = (reason.as_deref(), scangate_gateway::now_ms());
            scangate_gateway::operator::tokens::revoke_recorded(data, &name, &who, reason, now)?;
            println!("token {name:?} revoked");
        }
        TokenCommand::List { json } => {
            println!(
                "{}",
                if json {
                    serde_json::json!({"name": scangate_gateway::operator::tokens::BOOTSTRAP, "role": "admin"})
                        .to_string()
                } else {
                    format!(
                        "{} admin (the first-start admin-token)",
                        scangate_gateway::operator::tokens::BOOTSTRAP
                    )
                }
            );
            for t in scangate_gateway::operator::tokens::list(&path)? {
                if json {
                    let v = serde_json::json!({"name": t.name, "role": t.role, "created_at": scangate_gateway::operator::api::rfc3339(t.created_ms)});
                    println!("{v}");
                } else {
                    println!(
                        "{} {} created {}",
                        t.name,
                        t.role.as_str(),
                        scangate_gateway::operator::api::rfc3339(t.created_ms)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
