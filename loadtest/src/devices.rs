//! Simulated scanner devices: each its own device certificate (issued from
//! the gateway's PKI) and its own QUIC connection, standing at one gate.

use crate::LoadError;
use crate::clock::Clock;
use scangate_certs::Pki;
use scangate_client::{OfflineConfig, OfflineScanner, Scanner, ScannerConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// Most devices one run simulates: each is a QUIC connection and a TLS
/// handshake; the gateway accepts 10,000 connections by default.
pub const DEVICES_MAX: usize = 2_000;
/// Most scans in flight per device. The gateway answers `busy` beyond its
/// per-connection limit (512 by default); `--spawn` raises that limit.
pub const DEPTH_MAX: usize = 4_096;
/// Prefix of the device names (`scangate-load-0007`); a running gateway's
/// data dir keeps these certificates and later runs reuse them.
pub const DEVICE_PREFIX: &str = "scangate-load-";
/// The gateway's public offline snapshot key in its data dir, which the
/// offline devices pin.
pub const GATEWAY_PUBLIC_KEY_FILE: &str = "offline-signing-key.pub";

/// How devices reach the gateway.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    /// Scans in flight per device (the pipelining depth).
    pub depth: usize,
    /// Deadline of one attempt, ms.
    pub timeout_ms: u64,
    /// Attempts per scan (retries reuse the scan id).
    pub attempts: u32,
    /// The local IP the devices send from (`None`: the system's choice).
    pub source_ip: Option<IpAddr>,
}

/// One simulated scanner.
pub struct Device {
    /// Its certificate name.
    pub name: String,
    /// The gate it stands at.
    pub gate: String,
    /// Its connection.
    pub scanner: Scanner,
    /// Most of its scans in flight at once (the pipelining depth).
    pub depth: usize,
}

/// The gate name of gate `i`.
pub fn gate_name(i: u32) -> String {
    format!("gate-{i}")
}

/// Device `i`'s name, gate and scanner configuration: its certificate
/// enrolled in `pki` (or reused), the settings applied.
fn device_config(
    pki: &Pki,
    i: usize,
    addr: SocketAddr,
    gates: u32,
    settings: &DeviceSettings,
) -> Result<(String, String, ScannerConfig), LoadError> {
    let name = format!("{DEVICE_PREFIX}{i:04}");
    let fail = |reason: String| LoadError::Device {
        device: name.clone(),
        reason,
    };
    let files = pki.scanner_files(&name).map_err(|e| fail(e.to_string()))?;
    if !files.cert.exists() {
        pki.issue_scanner(&name).map_err(|e| fail(e.to_string()))?;
    }
    let mut config = ScannerConfig::from_files(addr, &pki.ca_cert_path(), &files.cert, &files.key)
        .map_err(|e| fail(e.to_string()))?;
    config.max_in_flight = settings.depth;
    config.request_timeout_ms = settings.timeout_ms;
    config.attempts = settings.attempts;
    config.local_ip = settings.source_ip;
    let gate = gate_name(u32::try_from(i).unwrap_or(0) % gates.max(1));
    Ok((name, gate, config))
}

/// Enrolls (or reuses) `count` device certificates in `data_dir/pki` and
/// connects each, spreading them round-robin over `gates` gates.
pub async fn connect_all(
    data_dir: &Path,
    addr: SocketAddr,
    count: usize,
    gates: u32,
    settings: &DeviceSettings,
) -> Result<Vec<Arc<Device>>, LoadError> {
    let pki = Pki::open(&data_dir.join("pki"));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..count {
        let (name, gate, config) = device_config(&pki, i, addr, gates, settings)?;
        let depth = settings.depth;
        set.spawn(async move {
            let scanner = Scanner::connect(config)
                .await
                .map_err(|e| LoadError::Device {
                    device: name.clone(),
                    reason: e.to_string(),
                })?;
            Ok::<_, LoadError>((
                i,
                Device {
                    name,
                    gate,
                    scanner,
                    depth,
                },
            ))
        });
    }
    Ok(in_order(set, count)
        .await?
        .into_iter()
        .map(Arc::new)
        .collect())
}

/// Waits for every device of `set` and returns them in their order.
async fn in_order<D: 'static>(
    mut set: tokio::task::JoinSet<Result<(usize, D), LoadError>>,
    count: usize,
) -> Result<Vec<D>, LoadError> {
    let mut devices: Vec<(usize, D)> = Vec::with_capacity(count);
    while let Some(joined) = set.join_next().await {
        let device = joined.map_err(|e| LoadError::Device {
            device: "?".into(),
            reason: e.to_string(),
        })??;
        devices.push(device);
    }
    devices.sort_by_key(|(i, _)| *i);
    Ok(devices.into_iter().map(|(_, d)| d).collect())
}

/// One simulated scanner that decides offline when the gateway is out of
/// reach: the SDK's [`OfflineScanner`], with its own state directory.
pub struct OfflineDevice {
    /// Its certificate name.
    pub name: String,
    /// The gate it stands at.
    pub gate: String,
    /// The scanner (one scan at a time: its calls take `&mut`).
    pub scanner: OfflineScanner,
}

/// Enrolls (or reuses) `count` device certificates as [`connect_all`]
/// does and opens each as an [`OfflineScanner`] of `event`, its state in
/// `state_dir/NAME`, the gateway's public snapshot key pinned from
/// `data_dir` (`offline-signing-key.pub`), and its snapshot fetched now.
pub async fn open_offline(
    data_dir: &Path,
    addr: SocketAddr,
    (count, gates): (usize, u32),
    settings: &DeviceSettings,
    event: &str,
    state_dir: &Path,
    clock: Clock,
) -> Result<Vec<OfflineDevice>, LoadError> {
    let pki = Pki::open(&data_dir.join("pki"));
    let key = data_dir.join(GATEWAY_PUBLIC_KEY_FILE);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..count {
        let (name, gate, config) = device_config(&pki, i, addr, gates, settings)?;
        let dir = state_dir.join(&name);
        let fail = |reason: String| LoadError::Device {
            device: name.clone(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        std::fs::copy(&key, dir.join(scangate_client::offline::files::KEY_FILE))
            .map_err(|e| fail(format!("cannot pin the key {}: {e}", key.display())))?;
        let offline = OfflineConfig::new(dir, event);
        let mut scanner =
            OfflineScanner::open(config, offline, None).map_err(|e| fail(e.to_string()))?;
        set.spawn(async move {
            scanner
                .refresh(clock.unix_ms_now())
                .await
                .map_err(|e| LoadError::Device {
                    device: name.clone(),
                    reason: format!("cannot fetch the offline snapshot: {e}"),
                })?;
            Ok::<_, LoadError>((
                i,
                OfflineDevice {
                    name,
                    gate,
                    scanner,
                },
            ))
        });
    }
    in_order(set, count).await
}

/// Closes every device's connection.
pub async fn close_all(devices: &[Arc<Device>]) {
    for d in devices {
        d.scanner.close().await;
    }
}
