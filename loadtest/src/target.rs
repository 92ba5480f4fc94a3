//! The gateway under test: a `scangate serve` child process on a temporary
//! data directory (`--spawn`), or the one running on a data directory.
//!
//! `--spawn` starts the real `scangate` binary (QUIC, TLS, the actors, the
//! embedded store with its `fdatasync`s) on loopback, waits until it is
//! ready (`gateway.json` written, `/readyz` answering 200), and stops it
//! with SIGTERM at the end. It runs on the same machine and cores as the
//! load: the figures are those of gateway and load together. For an outage
//! the spawned gateway can be killed (SIGKILL), frozen (SIGSTOP, SIGCONT)
//! and started again on the same data dir and ports. Its port is picked
//! outside the kernel's ephemeral range ([`crate::ports`]), so that no
//! other process's client socket is given it while the gateway is down.

use crate::LoadError;
use crate::ports;
use rustix::process::Signal;
use scangate_api::AdminClient;
use scangate_api::discovery::{ADMIN_TOKEN_FILE, ENDPOINTS_FILE, Endpoints};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// Per-device rate of the spawned gateway: the load's few devices send far
/// more than a turnstile, so the per-device limit must not shape the run.
pub const SPAWN_DEVICE_RATE: u32 = u32::MAX / 2;
/// Least room for scans in flight per connection the spawned gateway gets
/// (the gateway's own default): a scan the scanner gave up on and retried
/// may still be in flight there, beyond `--depth`.
pub const SPAWN_IN_FLIGHT_MIN: usize = 512;
/// How long a spawned gateway may take to be ready. A first start creates
/// its PKI and keys and opens an empty store, under a second; the rest is
/// room for a loaded CI machine.
pub const SPAWN_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often readiness is checked while waiting for it.
const READY_POLL: Duration = Duration::from_millis(20);
/// Deadline of one `/readyz` request while waiting.
const READY_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a spawned gateway may take to drain, flush and exit after
/// SIGTERM before it is killed.
pub const SPAWN_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Starts tried on freshly picked ports when the first one is taken between
/// the pick and the gateway's bind (another process binding it by number).
pub const SPAWN_PORT_TRIES: u32 = 3;
/// The gateway binary's name, looked for next to `scangate-load`.
pub const SCANGATE_BIN_NAME: &str = "scangate";

/// Where the gateway under test is and how to reach it.
pub struct Target {
    /// Its QUIC address.
    pub quic: SocketAddr,
    /// Its operator HTTP address.
    pub http: SocketAddr,
    /// Its admin bearer token.
    pub admin_token: String,
    /// Its data directory (PKI, signing keys).
    pub data_dir: PathBuf,
    spawned: Option<Spawned>,
}

/// A gateway this run started: the binary and settings to start it again
/// on the same data dir and ports, and the process running now.
struct Spawned {
    bin: PathBuf,
    depth: usize,
    /// More arguments for `scangate serve`, at every start.
    serve_args: Vec<String>,
    /// `None` between a crash and the next start.
    child: Mutex<Option<Child>>,
    _dir: tempfile::TempDir,
}

/// The `scangate` binary next to the running `scangate-load`.
pub fn default_scangate_bin() -> Result<PathBuf, LoadError> {
    let exe = std::env::current_exe()
        .map_err(|e| LoadError::Spawn(format!("cannot find scangate-load's own path: {e}")))?;
    Ok(exe.with_file_name(SCANGATE_BIN_NAME))
}

/// Starts `bin serve` on `dir` with QUIC and HTTP at `addr`, with device
/// rate limits raised, room for `depth` scans in flight per connection, and
/// `serve_args` after those.
fn start_child(
    (bin, serve_args): (&Path, &[String]),
    dir: &Path,
    addr: SocketAddr,
    depth: usize,
) -> Result<Child, LoadError> {
    let rate = SPAWN_DEVICE_RATE.to_string();
    let addr = addr.to_string();
    Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--quic", &addr, "--http", &addr])
        .args(["--device-rate", &rate, "--device-burst", &rate])
        .arg("--max-in-flight-per-connection")
        .arg(depth.max(SPAWN_IN_FLIGHT_MIN).to_string())
        .args(serve_args)
        .stdin(Stdio::null())
        // The gateway's own output must not mix with the report on stdout.
        .stdout(Stdio::from(std::io::stderr()))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            LoadError::Spawn(format!(
                "cannot start {}: {e} (give the gateway binary with --scangate-bin or SCANGATE_BIN)",
                bin.display()
            ))
        })
}

/// Waits, at most [`SPAWN_READY_TIMEOUT`], until `child` is ready on `dir`.
async fn ready_within(child: &mut Child, dir: &Path) -> Result<(Endpoints, String), LoadError> {
    match tokio::time::timeout(SPAWN_READY_TIMEOUT, wait_ready(child, dir)).await {
        Ok(found) => found,
        Err(_) => Err(LoadError::Spawn(format!(
            "the gateway was not ready within {SPAWN_READY_TIMEOUT:?}"
        ))),
    }
}

/// Sends `signal` to `child` (a no-op once it has exited).
fn signal(child: &Child, signal: Signal) -> Result<(), LoadError> {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    match pid {
        Some(pid) => rustix::process::kill_process(pid, signal)
            .map_err(|e| LoadError::Spawn(format!("cannot signal the gateway ({signal:?}): {e}"))),
        None => Ok(()),
    }
}

impl Target {
    /// Starts `bin serve` on a fresh temporary data directory, on loopback,
    /// with device rate limits raised and room for `depth` scans in flight
    /// per connection; returns once it is ready.
    pub async fn spawn(bin: &Path, depth: usize) -> Result<Target, LoadError> {
        Self::spawn_with(bin, depth, Vec::new()).await
    }

    /// [`Self::spawn`], with `serve_args` added to `scangate serve` at
    /// every start (`--admin-rate 10`, ...). The port is picked outside the
    /// ephemeral range; if another process binds it first, the start is
    /// tried again on another, [`SPAWN_PORT_TRIES`] times in all.
    pub async fn spawn_with(
        bin: &Path,
        depth: usize,
        serve_args: Vec<String>,
    ) -> Result<Target, LoadError> {
        let dir = tempfile::Builder::new()
            .prefix("scangate-load-")
            .tempdir()
            .map_err(|e| LoadError::Spawn(format!("cannot create a temporary data dir: {e}")))?;
        let ip = Ipv4Addr::LOCALHOST.into();
        let mut tries = 0;
        let (child, endpoints, admin_token) = loop {
            tries += 1;
            let addr = SocketAddr::new(ip, ports::pick(ip)?);
            let mut child = start_child((bin, &serve_args), dir.path(), addr, depth)?;
            match ready_within(&mut child, dir.path()).await {
                Ok((endpoints, token)) => break (child, endpoints, token),
                Err(e) => {
                    let _ = child.kill().await;
                    match ports::is_free(addr) {
                        Err(reason) if tries < SPAWN_PORT_TRIES => {
                            tracing::warn!(%addr, %reason, "the picked port was taken; another");
                        }
                        Err(reason) => return Err(LoadError::PortTaken { addr, reason }),
                        Ok(()) => return Err(e),
                    }
                }
            }
        };
        Ok(Target {
            quic: endpoints.quic,
            http: endpoints.http,
            admin_token,
            data_dir: dir.path().to_owned(),
            spawned: Some(Spawned {
                bin: bin.to_owned(),
                depth,
                serve_args,
                child: Mutex::new(Some(child)),
                _dir: dir,
            }),
        })
    }

    /// The gateway running on `dir` (its `gateway.json` and `admin-token`,
    /// as the `scangate` commands find them). Loopback only.
    pub fn attach(dir: &Path) -> Result<Target, LoadError> {
        let (endpoints, admin_token) = discover(dir).map_err(LoadError::Target)?;
        for addr in [endpoints.quic, endpoints.http] {
            if !addr.ip().is_loopback() {
                return Err(LoadError::Target(format!(
                    "the gateway of {} listens on {addr}, not on loopback; scangate-load only loads a gateway on this host",
                    dir.display()
                )));
            }
        }
        Ok(Target {
            quic: endpoints.quic,
            http: endpoints.http,
            admin_token,
            data_dir: dir.to_owned(),
            spawned: None,
        })
    }

    /// True when this run started the gateway.
    pub fn is_spawned(&self) -> bool {
        self.spawned.is_some()
    }

    fn spawned(&self) -> Result<&Spawned, LoadError> {
        self.spawned.as_ref().ok_or_else(|| {
            LoadError::Invalid("only a gateway this run started (--spawn) can be stopped".into())
        })
    }

    /// Kills the spawned gateway with SIGKILL (a real crash: no drain, no
    /// flush) and waits until it is gone. Nothing to do when it is down.
    pub async fn crash(&self) -> Result<(), LoadError> {
        let mut child = self.spawned()?.child.lock().await;
        if let Some(mut running) = child.take() {
            running
                .kill()
                .await
                .map_err(|e| LoadError::Spawn(format!("cannot kill the gateway: {e}")))?;
        }
        Ok(())
    }

    /// Freezes the spawned gateway (SIGSTOP): its sockets stay open and
    /// nothing answers, as behind a network cut.
    pub async fn pause(&self) -> Result<(), LoadError> {
        match self.spawned()?.child.lock().await.as_ref() {
            Some(child) => signal(child, Signal::STOP),
            None => Ok(()),
        }
    }

    /// Lets a paused gateway run again (SIGCONT).
    pub async fn resume(&self) -> Result<(), LoadError> {
        match self.spawned()?.child.lock().await.as_ref() {
            Some(child) => signal(child, Signal::CONT),
            None => Ok(()),
        }
    }

    /// Starts the spawned gateway again on the same data dir and ports
    /// after a crash, without waiting for it (a crash during start-up and
    /// replay is then possible); [`Self::until_ready`] waits. Waits first
    /// for the port to be free, at most [`ports::PORT_FREE_WAIT`].
    pub async fn start_again(&self) -> Result<(), LoadError> {
        let spawned = self.spawned()?;
        let mut child = spawned.child.lock().await;
        if child.is_some() {
            return Err(LoadError::Spawn("the gateway is still running".into()));
        }
        ports::wait_free(self.quic, ports::PORT_FREE_WAIT).await?;
        *child = Some(start_child(
            (&spawned.bin, &spawned.serve_args),
            &self.data_dir,
            self.quic,
            spawned.depth,
        )?);
        Ok(())
    }

    /// Waits until the gateway started by [`Self::start_again`] answers
    /// `/readyz` (at most [`SPAWN_READY_TIMEOUT`]). A gateway that exited
    /// because a stranger took its port in the moment between the check and
    /// its bind is [`LoadError::PortTaken`].
    pub async fn until_ready(&self) -> Result<(), LoadError> {
        let mut child = self.spawned()?.child.lock().await;
        let Some(running) = child.as_mut() else {
            return Err(LoadError::Spawn("the gateway is not running".into()));
        };
        let Err(e) = ready_within(running, &self.data_dir).await else {
            return Ok(());
        };
        if matches!(running.try_wait(), Ok(Some(_)))
            && let Err(reason) = ports::is_free(self.quic)
        {
            *child = None;
            return Err(LoadError::PortTaken {
                addr: self.quic,
                reason,
            });
        }
        Err(e)
    }

    /// Stops a spawned gateway (SIGTERM: drain, flush, exit 0; killed after
    /// [`SPAWN_STOP_TIMEOUT`]) and removes its data directory; does nothing
    /// for an attached one.
    pub async fn stop(self) -> Result<(), LoadError> {
        let Some(spawned) = self.spawned else {
            return Ok(());
        };
        let Some(mut child) = spawned.child.into_inner() else {
            return Err(LoadError::Spawn(
                "the gateway was down at the end of the run (crashed and not started again)".into(),
            ));
        };
        signal(&child, Signal::TERM)?;
        match tokio::time::timeout(SPAWN_STOP_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(LoadError::Spawn(format!(
                "the gateway exited with {status}"
            ))),
            Ok(Err(e)) => Err(LoadError::Spawn(format!(
                "cannot wait for the gateway: {e}"
            ))),
            Err(_) => {
                let _ = child.kill().await;
                Err(LoadError::Spawn(format!(
                    "the gateway did not stop within {SPAWN_STOP_TIMEOUT:?}; killed"
                )))
            }
        }
    }
}

/// Waits until the child has written `gateway.json` and answers `/readyz`
/// with 200; fails at once if it exits first.
async fn wait_ready(child: &mut Child, dir: &Path) -> Result<(Endpoints, String), LoadError> {
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| LoadError::Spawn(format!("cannot watch the gateway: {e}")))?
        {
            return Err(LoadError::Spawn(format!(
                "the gateway exited with {status} before it was ready (its log is above)"
            )));
        }
        if let Ok((endpoints, token)) = discover(dir) {
            let base = format!("http://{}", endpoints.http);
            let client = AdminClient::new(&base, token.clone(), READY_REQUEST_TIMEOUT)
                .map_err(|e| LoadError::Spawn(e.to_string()))?;
            if client
                .get_bytes("/readyz", scangate_api::client::NO_QUERY)
                .await
                .is_ok()
            {
                return Ok((endpoints, token));
            }
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// The endpoints and admin token a gateway left in `dir`.
fn discover(dir: &Path) -> Result<(Endpoints, String), String> {
    let path = dir.join(ENDPOINTS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "no running gateway found: cannot read {} ({e}); start `scangate serve --data-dir {}` or use --spawn",
            path.display(),
            dir.display()
        )
    })?;
    let endpoints: Endpoints =
        serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))?;
    let path = dir.join(ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the admin token at {}: {e}", path.display()))?;
    Ok((endpoints, token.trim().to_owned()))
}
