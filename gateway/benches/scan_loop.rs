//! Scans per second through the whole gateway on loopback: real QUIC + TLS,
//! the client SDK, token verification, per-pass actors and durable group
//! commits, gateway and load in one process on this machine's cores.
//!
//! Baseline in the same run: `ping` through the same connections and SDK (the
//! transport's ceiling: framing, QUIC, TLS, no decision, no disk). A third
//! run sends forged tokens: what rejecting them at the edge costs.
//!
//! `cargo bench -p scangate-gateway --bench scan_loop -- [--seconds S] [--connections C] [--depth D] [--passes P] [--only grant]`
//!
//! `--only grant` runs the durable workload alone (for `perf record`).

use scangate_client::{ScanInput, Scanner, ScannerConfig};
use scangate_core::{Decision, Reason};
use scangate_gateway::config::ServeConfig;
use scangate_gateway::datadir::DEV_SCANNER;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// mimalloc, not the system allocator: a scan allocates and frees on every
/// tokio worker, which mimalloc serves from per-thread heaps without glibc
/// malloc's arena locks (what they cost: docs/benchmarks/history.md, second
/// round).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    seconds: u64,
    connections: usize,
    depth: usize,
    passes: u32,
    only_grant: bool,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 4,
        depth: 32,
        passes: 10_000,
        only_grant: false,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = || argv.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match argv[i].as_str() {
            "--seconds" => a.seconds = value().expect("--seconds N"),
            "--connections" => a.connections = value().expect("--connections N") as usize,
            "--depth" => a.depth = value().expect("--depth N") as usize,
            "--passes" => a.passes = value().expect("--passes N") as u32,
            "--only" => {
                assert_eq!(
                    argv.get(i + 1).map(String::as_str),
                    Some("grant"),
                    "--only grant"
                );
                a.only_grant = true;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

struct Run {
    ops: u64,
    secs: f64,
    lat_us: Vec<u32>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return 0.0;
        }
        let i = ((self.lat_us.len() as f64 * p).ceil() as usize).clamp(1, self.lat_us.len()) - 1;
        f64::from(self.lat_us[i]) / 1000.0
    }
}

/// What each request of a run is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// `ping`: transport only.
    Ping,
    /// A scan of a valid pass with unlimited uses: a durable grant.
    Grant,
    /// A scan of a forged token: rejected at the edge.
    Forged,
}

async fn drive(
    scanners: &[Scanner],
    depth: usize,
    secs: u64,
    tokens: Arc<Vec<String>>,
    work: Work,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, s) in scanners.iter().enumerate() {
        for d in 0..depth {
            let (s, stop, tokens) = (s.clone(), stop.clone(), tokens.clone());
            let mut x = (c * 7919 + d * 104_729 + 1) as u64;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if work == Work::Ping {
                        s.ping().await.expect("ping");
                    } else {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let token = tokens[(x % tokens.len() as u64) as usize].clone();
                        let r = s
                            .scan(ScanInput {
                                token,
                                gate: "A".into(),
                                event: None,
                                scan_id: None,
                            })
                            .await
                            .expect("scan");
                        let expected = match work {
                            Work::Forged => Decision::Denied(Reason::Forged),
                            _ => Decision::Granted,
                        };
                        assert_eq!(r.decision, expected);
                    }
                    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                lat
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat_us = Vec::new();
    for t in tasks {
        lat_us.extend(t.await.expect("task"));
    }
    let secs = started.elapsed().as_secs_f64();
    lat_us.sort_unstable();
    Run {
        ops: lat_us.len() as u64,
        secs,
        lat_us,
    }
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::Builder::new().prefix("scangate-bench").tempdir().expect("tempdir");
        let mut config = ServeConfig::new(dir.path().to_owned());
        config.quic_addr = "127.0.0.1:0".parse().expect("addr");
        config.http_addr = "127.0.0.1:0".parse().expect("addr");
        let unlimited = std::num::NonZeroU32::new(u32::MAX / 2).expect("non-zero");
        config.rate.scans_per_s = unlimited;
        config.rate.burst = unlimited;
        let shutdown = CancellationToken::new();
        let running = scangate_gateway::serve::start(config, shutdown.clone()).await.expect("gateway");
        let endpoints = running.endpoints.clone();
        let gateway = tokio::spawn(running.stopped());

        let token = std::fs::read_to_string(dir.path().join("admin-token")).expect("token");
        let http = reqwest::Client::new();
        let mut tokens = Vec::new();
        let mut left = a.passes;
        while left > 0 {
            let n = left.min(scangate_gateway::operator::api::ISSUE_MAX);
            let passes: Vec<scangate_gateway::operator::api::PassView> = http
                .post(format!("http://{}/v1/passes", endpoints.http))
                .bearer_auth(token.trim())
                .json(&serde_json::json!({"event": "bench", "unlimited": true, "count": n}))
                .send()
                .await
                .expect("issue")
                .json()
                .await
                .expect("passes");
            tokens.extend(passes.into_iter().map(|p| p.token));
            left -= n;
        }
        let tokens = Arc::new(tokens);
        let pki = dir.path().join("pki");
        let mut scanners = Vec::new();
        for _ in 0..a.connections {
            let config = ScannerConfig::from_files(
                endpoints.quic,
                &pki.join("ca.pem"),
                &pki.join("scanners").join(format!("{DEV_SCANNER}.pem")),
                &pki.join("scanners").join(format!("{DEV_SCANNER}.key")),
            )
            .expect("scanner config");
            scanners.push(Scanner::connect(config).await.expect("connect"));
        }
        // Forged: each valid token with its last character changed (the tag
        // no longer verifies); decided at the edge, no actor, cache or store.
        let forged: Arc<Vec<String>> = Arc::new(
            tokens
                .iter()
                .map(|t| {
                    let mut f = t.clone();
                    let last = f.pop().expect("token");
                    f.push(if last == 'A' { 'B' } else { 'A' });
                    f
                })
                .collect(),
        );
        let _warm = drive(&scanners, a.depth, 1, tokens.clone(), Work::Grant).await;
        if a.only_grant {
            let scan = drive(&scanners, a.depth, a.seconds, tokens.clone(), Work::Grant).await;
            println!("durable scans: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms", scan.rate(), scan.pct(0.5), scan.pct(0.99));
            return;
        }
        let ping = drive(&scanners, a.depth, a.seconds, tokens.clone(), Work::Ping).await;
        let scan = drive(&scanners, a.depth, a.seconds, tokens.clone(), Work::Grant).await;
        let rejected = drive(&scanners, a.depth, a.seconds, forged, Work::Forged).await;
        println!(
            "gateway on loopback: {} connections x {} in flight = {} scans in flight, {} passes, {} s each, 2 worker threads, gateway and load in one process",
            a.connections,
            a.depth,
            a.connections * a.depth,
            a.passes,
            a.seconds
        );
        println!("| workload | ops/s | p50 ms | p99 ms | ratio to ping |");
        println!("| --- | ---: | ---: | ---: | ---: |");
        for (name, r) in [
            ("ping (transport ceiling)", &ping),
            ("durable scans (all grants)", &scan),
            ("forged tokens rejected", &rejected),
        ] {
            println!(
                "| {name} | {:.0} | {:.2} | {:.2} | {:.2} |",
                r.rate(),
                r.pct(0.50),
                r.pct(0.99),
                r.rate() / ping.rate()
            );
        }
        // Where the time goes: the store's own view (whole process, warm-up included).
        let metrics = http
            .get(format!("http://{}/metrics", endpoints.http))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        let total = |name: &str| -> f64 {
            metrics
                .lines()
                .filter(|l| l.starts_with(name) && !l.contains('{'))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let commits = total("scangate_store_batch_size_count");
        println!(
            "store over the whole process: {commits:.0} durable commits, {:.1} commands per commit, {:.3} ms per commit (means)",
            total("scangate_store_batch_size_sum") / commits,
            1000.0 * total("scangate_store_commit_seconds_sum") / commits,
        );
        for s in &scanners {
            s.close().await;
        }
        shutdown.cancel();
        gateway.await.expect("join").expect("clean stop");
    });
}
