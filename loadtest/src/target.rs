//! The gateway under test: a `scangate serve` child process on a temporary
//! data directory (`--spawn`), or the one running on a data directory.
//!
//! `--spawn` starts the real `scangate` binary (QUIC, TLS, the actors, the
//! embedded store with its `fdatasync`s) on loopback, waits until it is
//! ready (`gateway.json` written, `/readyz` answering 200), and stops it
//! with SIGTERM at the end. It runs on the same machine and cores as the
//! load: the figures are those of gateway and load together.

use crate::LoadError;
use scangate_api::AdminClient;
use scangate_api::discovery::{ADMIN_TOKEN_FILE, ENDPOINTS_FILE, Endpoints};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

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

struct Spawned {
    child: Child,
    _dir: tempfile::TempDir,
}

/// The `scangate` binary next to the running `scangate-load`.
pub fn default_scangate_bin() -> Result<PathBuf, LoadError> {
    let exe = std::env::current_exe()
        .map_err(|e| LoadError::Spawn(format!("cannot find scangate-load's own path: {e}")))?;
    Ok(exe.with_file_name(SCANGATE_BIN_NAME))
}

impl Target {
    /// Starts `bin serve` on a fresh temporary data directory, on loopback,
    /// with device rate limits raised and room for `depth` scans in flight
    /// per connection; returns once it is ready.
    pub async fn spawn(bin: &Path, depth: usize) -> Result<Target, LoadError> {
        let dir = tempfile::Builder::new()
            .prefix("scangate-load-")
            .tempdir()
            .map_err(|e| LoadError::Spawn(format!("cannot create a temporary data dir: {e}")))?;
        let rate = SPAWN_DEVICE_RATE.to_string();
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--device-rate", &rate, "--device-burst", &rate])
            .arg("--max-in-flight-per-connection")
            .arg(depth.max(SPAWN_IN_FLIGHT_MIN).to_string())
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
            })?;
        let ready = tokio::time::timeout(SPAWN_READY_TIMEOUT, wait_ready(&mut child, dir.path()));
        let (endpoints, admin_token) = match ready.await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(LoadError::Spawn(format!(
                    "the gateway was not ready within {SPAWN_READY_TIMEOUT:?}"
                )));
            }
        };
        Ok(Target {
            quic: endpoints.quic,
            http: endpoints.http,
            admin_token,
            data_dir: dir.path().to_owned(),
            spawned: Some(Spawned { child, _dir: dir }),
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

    /// Stops a spawned gateway (SIGTERM: drain, flush, exit 0; killed after
    /// [`SPAWN_STOP_TIMEOUT`]) and removes its data directory; does nothing
    /// for an attached one.
    pub async fn stop(self) -> Result<(), LoadError> {
        let Some(mut spawned) = self.spawned else {
            return Ok(());
        };
        let pid = spawned
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            rustix::process::kill_process(pid, rustix::process::Signal::TERM)
                .map_err(|e| LoadError::Spawn(format!("cannot stop the gateway: {e}")))?;
        }
        match tokio::time::timeout(SPAWN_STOP_TIMEOUT, spawned.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(LoadError::Spawn(format!(
                "the gateway exited with {status}"
            ))),
            Ok(Err(e)) => Err(LoadError::Spawn(format!(
                "cannot wait for the gateway: {e}"
            ))),
            Err(_) => {
                let _ = spawned.child.kill().await;
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
