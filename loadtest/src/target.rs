//! The gateway under test: one started in this process on a temporary data
//! directory (`--spawn`), or the one running on a data directory.
//!
//! `--spawn` runs the real gateway (`scangate::serve::start`: QUIC, TLS, the
//! actors, the embedded store with its `fdatasync`s) inside the load tool's
//! process, on the same tokio runtime and the same cores as the load: the
//! figures are those of gateway and load together on this machine.

use crate::LoadError;
use scangate::config::ServeConfig;
use scangate::datadir::DataDir;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Per-device rate of the spawned gateway: the load's few devices send far
/// more than a turnstile, so the per-device limit must not shape the run
/// (governor admits at most one scan a nanosecond per device, far above any
/// load this tool makes).
pub const SPAWN_DEVICE_RATE: NonZeroU32 = NonZeroU32::new(u32::MAX / 2).expect("non-zero");

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
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Starts a gateway in this process on a fresh temporary data directory,
    /// with device rate limits raised and room for `depth` scans in flight
    /// per connection. Only one per process (the gateway installs the global
    /// metrics recorder).
    pub async fn spawn(depth: usize) -> Result<Target, LoadError> {
        let dir = tempfile::Builder::new()
            .prefix("scangate-load-")
            .tempdir()
            .map_err(|e| LoadError::Spawn(format!("cannot create a temporary data dir: {e}")))?;
        let data = DataDir::new(dir.path());
        // Prepared here, quietly, so the gateway finds nothing to create.
        data.prepare(&[])
            .map_err(|e| LoadError::Spawn(format!("{e:#}")))?;
        let mut config = ServeConfig::new(dir.path().to_owned());
        config.quic_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.rate.scans_per_s = SPAWN_DEVICE_RATE;
        config.rate.burst = SPAWN_DEVICE_RATE;
        config.quic.max_in_flight_per_connection =
            config.quic.max_in_flight_per_connection.max(depth);
        let shutdown = CancellationToken::new();
        let running = scangate::serve::start(config, shutdown.clone())
            .await
            .map_err(|e| LoadError::Spawn(format!("{e:#}")))?;
        let endpoints = running.endpoints.clone();
        let admin_token = data
            .read_admin_token()
            .map_err(|e| LoadError::Spawn(format!("{e:#}")))?;
        Ok(Target {
            quic: endpoints.quic,
            http: endpoints.http,
            admin_token,
            data_dir: dir.path().to_owned(),
            spawned: Some(Spawned {
                shutdown,
                task: tokio::spawn(running.stopped()),
                _dir: dir,
            }),
        })
    }

    /// The gateway running on `dir` (its `gateway.json` and `admin-token`,
    /// as the `scangate` commands find them). Loopback only.
    pub fn attach(dir: &Path) -> Result<Target, LoadError> {
        let data = DataDir::new(dir);
        let endpoints = data
            .read_endpoints()
            .map_err(|e| LoadError::Target(format!("{e:#}")))?;
        let admin_token = data
            .read_admin_token()
            .map_err(|e| LoadError::Target(format!("{e:#}")))?;
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

    /// True when the gateway runs inside this process.
    pub fn is_spawned(&self) -> bool {
        self.spawned.is_some()
    }

    /// Stops a spawned gateway (drain, flush) and removes its data
    /// directory; does nothing for an attached one.
    pub async fn stop(self) -> Result<(), LoadError> {
        let Some(spawned) = self.spawned else {
            return Ok(());
        };
        spawned.shutdown.cancel();
        match spawned.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(LoadError::Spawn(format!("{e:#}"))),
            Err(e) => Err(LoadError::Spawn(format!("the gateway task failed: {e}"))),
        }
    }
}
