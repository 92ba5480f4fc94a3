//! The QUIC connection-attempt flood (`--connect-flood N`, issue 28): N real
//! handshakes against the gateway through the scanner SDK, at most
//! [`CONNECT_CONCURRENCY`] at once, each from a new UDP socket (a new
//! source port on loopback). Every other attempt presents a device
//! certificate of the gateway's CA (the handshake completes, a ping is
//! answered, the connection is closed); the others a certificate of
//! another CA, which the gateway must refuse. An attempt with no handshake
//! within [`CONNECT_TIMEOUT`] is `timed_out` (the gateway dropped its
//! Initials: too many handshakes in progress, from this source or in all).

use crate::LoadError;
use crate::target::Target;
use scangate_certs::Pki;
use scangate_client::{ClientError, Scanner, ScannerConfig};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Most attempts one run makes: the issue's flood is 10,000; ten times
/// that still ends within the tool's hour at a debug build's pace.
pub const CONNECT_FLOOD_MAX: u32 = 100_000;
/// Attempts in progress at once: each holds a socket and its TLS state, so
/// 256 stay far within an ordinary open-file limit, and are well above the
/// gateway's 32 handshakes per source, whose cap the flood must reach.
pub const CONNECT_CONCURRENCY: usize = 256;
/// How long one attempt may take to complete its handshake: the SDK's
/// default connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The device name the flood's valid attempts use (enrolled once).
pub const FLOOD_DEVICE: &str = "scangate-load-connect-flood";

/// What the flood did (one JSON object with `--json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectFigures {
    /// Attempts made.
    pub attempts: u64,
    /// Of which with a certificate of the gateway's CA.
    pub valid: u64,
    /// Handshakes completed and a ping answered, valid certificates.
    pub completed: u64,
    /// Completed with a certificate of another CA: must stay 0.
    pub foreign_completed: u64,
    /// Refused by the gateway (an error before or just after the handshake).
    pub refused: u64,
    /// Of which with a valid certificate (the connection cap, a drop).
    pub valid_refused: u64,
    /// No handshake within [`CONNECT_TIMEOUT`], or no answer to the ping
    /// within the SDK's request deadline.
    pub timed_out: u64,
    /// From the first attempt to the last outcome, s.
    pub elapsed_s: f64,
    /// Completed handshakes' time to the ping answer, ms: p50.
    pub completed_p50_ms: f64,
    /// p99.
    pub completed_p99_ms: f64,
}

/// One attempt's outcome.
enum Outcome {
    Completed(Duration),
    Refused,
    TimedOut,
}

/// Connects once with `config`, pings, closes.
async fn attempt(mut config: ScannerConfig) -> Outcome {
    // The SDK's own connect deadline must not end the attempt first.
    config.connect_timeout_ms = u64::try_from(CONNECT_TIMEOUT.as_millis() * 2).unwrap_or(u64::MAX);
    let start = Instant::now();
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, Scanner::connect(config)).await;
    let scanner = match connected {
        Err(_) => return Outcome::TimedOut,
        Ok(Err(_)) => return Outcome::Refused,
        Ok(Ok(scanner)) => scanner,
    };
    // The gateway checks the client certificate after the client's side of
    // the handshake is done: a refused one shows on the first request.
    let pinged = scanner.ping().await;
    let took = start.elapsed();
    scanner.close().await;
    match pinged {
        Ok(_) => Outcome::Completed(took),
        Err(ClientError::Timeout { .. }) => Outcome::TimedOut,
        Err(_) => Outcome::Refused,
    }
}

/// The configs of a valid and a foreign device for the gateway at `addr`
/// of `data_dir`; the foreign CA is made in `foreign_dir`.
fn configs(
    data_dir: &Path,
    foreign_dir: &Path,
    addr: SocketAddr,
) -> Result<(ScannerConfig, ScannerConfig), LoadError> {
    let fail = |e: scangate_certs::CertError| LoadError::Device {
        device: FLOOD_DEVICE.into(),
        reason: e.to_string(),
    };
    let pki = Pki::open(&data_dir.join("pki"));
    let ca = pki.ca_pem().map_err(fail)?;
    if !pki.scanner_exists(FLOOD_DEVICE) {
        pki.issue_scanner(FLOOD_DEVICE).map_err(fail)?;
    }
    let files = pki.scanner_files(FLOOD_DEVICE).map_err(fail)?;
    let valid = ScannerConfig::from_files(addr, &pki.ca_cert_path(), &files.cert, &files.key)
        .map_err(|e| LoadError::Invalid(e.to_string()))?;
    let other = Pki::open(foreign_dir);
    other.init(&[]).map_err(fail)?;
    let foreign_files = other.issue_scanner(FLOOD_DEVICE).map_err(fail)?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| LoadError::File(e.to_string()));
    let foreign = ScannerConfig::new(
        addr,
        ca,
        read(&foreign_files.cert)?,
        read(&foreign_files.key)?,
    );
    Ok((valid, foreign))
}

/// Makes `n` attempts against the gateway at `addr` of `data_dir`, at most
/// [`CONNECT_CONCURRENCY`] at once, from `source_ip` (`None`: the system's
/// choice).
pub async fn flood(
    data_dir: &Path,
    addr: SocketAddr,
    source_ip: Option<IpAddr>,
    n: u32,
) -> Result<ConnectFigures, LoadError> {
    let foreign_dir = tempfile::Builder::new()
        .prefix("scangate-load-foreign-ca-")
        .tempdir()
        .map_err(|e| LoadError::File(format!("cannot create a temporary dir: {e}")))?;
    let (mut valid, mut foreign) = configs(data_dir, &foreign_dir.path().join("pki"), addr)?;
    (valid.local_ip, foreign.local_ip) = (source_ip, source_ip);
    let mut f = ConnectFigures::default();
    let mut took: Vec<Duration> = Vec::new();
    let mut set: JoinSet<(bool, Outcome)> = JoinSet::new();
    let start = Instant::now();
    for i in 0..n {
        if set.len() >= CONNECT_CONCURRENCY
            && let Some(Ok(done)) = set.join_next().await
        {
            f.count(done, &mut took);
        }
        let is_valid = i % 2 == 0;
        let config = if is_valid { &valid } else { &foreign }.clone();
        set.spawn(async move { (is_valid, attempt(config).await) });
    }
    while let Some(joined) = set.join_next().await {
        if let Ok(done) = joined {
            f.count(done, &mut took);
        }
    }
    f.elapsed_s = start.elapsed().as_secs_f64();
    took.sort_unstable();
    let q = |q: f64| {
        let last = took.len().saturating_sub(1);
        took.get(((last as f64) * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    (f.completed_p50_ms, f.completed_p99_ms) = (q(0.5), q(0.99));
    Ok(f)
}

/// `--connect-flood N`: against the gateway of `--data-dir`, or one this
/// run starts (`--spawn`, stopped at the end).
pub async fn run(args: &crate::cli::Args, n: u32) -> Result<ConnectFigures, LoadError> {
    if n == 0 || n > CONNECT_FLOOD_MAX {
        return Err(LoadError::Invalid(format!(
            "--connect-flood must be from 1 to {CONNECT_FLOOD_MAX}, not {n}"
        )));
    }
    let target = if args.spawn {
        let bin = match &args.scangate_bin {
            Some(bin) => bin.clone(),
            None => crate::target::default_scangate_bin()?,
        };
        Target::spawn(&bin, args.depth).await?
    } else {
        Target::attach(&args.data_dir)?
    };
    let result = flood(&target.data_dir, target.quic, args.source_ip, n).await;
    let stopped = target.stop().await;
    let figures = result?;
    stopped?;
    Ok(figures)
}

impl ConnectFigures {
    fn count(&mut self, (valid, outcome): (bool, Outcome), took: &mut Vec<Duration>) {
        self.attempts += 1;
        self.valid += u64::from(valid);
        match outcome {
            Outcome::Completed(d) if valid => {
                self.completed += 1;
                took.push(d);
            }
            Outcome::Completed(_) => self.foreign_completed += 1,
            Outcome::Refused => {
                self.refused += 1;
                self.valid_refused += u64::from(valid);
            }
            Outcome::TimedOut => self.timed_out += 1,
        }
    }
}
