//! Start-up with many scan records on disk (issue 4: "time from start to
//! ready with 10M scan records on disk").
//!
//! 1. With `--gateway BIN` (the `scangate` binary), creates a gateway data dir
//!    by starting `BIN serve` once (PKI, keys, admin token, an empty store)
//!    and stopping it.
//! 2. Fills `DATA/store` through the [`Store`] trait while no gateway runs:
//!    `insert_passes` (unlimited passes, 10k per call), then `commit_scan`
//!    grants from many concurrent tasks (each owns its passes, so none
//!    conflicts), until `--records` scan records are stored (~40k grants/s
//!    on the 2-core machine: 10M take ~4–5 minutes), then closes the store
//!    and times the close (where fjall's memtables are written out).
//! 3. With `--gateway`, times `BIN serve --data-dir DATA` from spawn to its
//!    "scangate ready" line on stdout (`--runs` times, median; each stopped
//!    with SIGTERM, and the time from SIGTERM to exit taken too). A relative
//!    `BIN` is taken from the workspace root. The first start meets the
//!    store as the fill's close left it, like a restart right after a busy
//!    event.
//! 4. Times `EmbeddedStore::open` on that dir (`--runs` times, median), and
//!    the first `load_pass` after it.
//!
//! ```sh
//! cargo build --release -p scangate
//! cargo bench -p scangate-storage-embedded --bench reopen -- --gateway target/release/scangate
//! cargo bench -p scangate-storage-embedded --bench reopen -- --records 1000000   # store only, quicker
//! ```
//!
//! Flags: `--records N` (10,000,000), `--passes N` (1,000,000: N records
//! spread over them), `--tasks N` (256 grants in flight), `--runs N` (3),
//! `--dir DIR` (a parent for the temp data dir, default `$TMPDIR` or /tmp; it
//! must be a real disk, not tmpfs), `--keep` (leave the data dir and print
//! its path), `--fill-only` (steps 1–2, keep the dir), `--crash` (as
//! `--fill-only`, but the process exits at the end of the fill without
//! closing the store, as a crash would leave it), `--reuse DATA` (skip
//! steps 1–2 and measure an existing data dir). The last line of stdout is one JSON object.

mod common;

use common::{grant, issue_passes, pass_key};
use scangate_core::{PassId, ScanId};
use scangate_storage::{Store, StoreError};
use scangate_storage_embedded::{EmbeddedConfig, EmbeddedStore};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The event of every pass and grant the bench writes.
const EVENT: &str = "reopen-2026";

type Failure = Box<dyn std::error::Error>;

struct Args {
    records: u64,
    passes: usize,
    tasks: usize,
    runs: usize,
    dir: PathBuf,
    keep: bool,
    fill_only: bool,
    crash: bool,
    reuse: Option<PathBuf>,
    gateway: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Failure> {
    let mut a = Args {
        records: 10_000_000,
        passes: 1_000_000,
        tasks: 256,
        runs: 3,
        dir: std::env::temp_dir(),
        keep: false,
        fill_only: false,
        crash: false,
        reuse: None,
        gateway: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => a.records = value()?.parse()?,
            "--passes" => a.passes = value()?.parse()?,
            "--tasks" => a.tasks = value()?.parse()?,
            "--runs" => a.runs = value()?.parse()?,
            "--dir" => a.dir = value()?.into(),
            "--reuse" => a.reuse = Some(value()?.into()),
            "--gateway" => a.gateway = Some(from_workspace(value()?.into())),
            "--keep" => a.keep = true,
            "--fill-only" => {
                a.fill_only = true;
                a.keep = true;
            }
            "--crash" => {
                a.crash = true;
                a.fill_only = true;
                a.keep = true;
            }
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if a.passes == 0 || a.tasks == 0 || a.runs == 0 {
        return Err("--passes, --tasks and --runs must be at least 1".into());
    }
    Ok(a)
}

fn main() -> Result<(), Failure> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let temp = match &args.reuse {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("scangate-reopen.")
                .tempdir_in(&args.dir)?,
        ),
    };
    let data = match (&args.reuse, &temp) {
        (Some(dir), _) => dir.clone(),
        (None, Some(t)) => t.path().join("data"),
        (None, None) => unreachable!("a temp dir is made when not reusing"),
    };
    let store_dir = data.join("store");

    let (mut fill_s, mut close_s) = (None, None);
    if args.reuse.is_none() {
        if let Some(bin) = &args.gateway {
            eprintln!("creating the gateway data dir with {} serve", bin.display());
            let (child, _) = start_gateway(bin, &data)?;
            stop_gateway(child)?;
        }
        eprintln!(
            "filling {}: {} passes, {} scan records, {} in flight",
            store_dir.display(),
            args.passes,
            args.records,
            args.tasks
        );
        let t = Instant::now();
        let closed = runtime.block_on(fill(&store_dir, &args))?;
        fill_s = Some(t.elapsed().as_secs_f64());
        close_s = closed.map(|c| c.as_secs_f64());
        match closed {
            Some(c) => eprintln!(
                "filled in {:.1} s, of which the close {:.2} s",
                t.elapsed().as_secs_f64(),
                c.as_secs_f64()
            ),
            None => eprintln!("filled in {:.1} s, not closed", t.elapsed().as_secs_f64()),
        }
    }
    let disk_bytes = dir_size(&store_dir)?;
    let journals = count_journals(&store_dir)?;
    eprintln!("store: {disk_bytes} bytes on disk, {journals} journal files");
    if args.fill_only {
        if let Some(t) = temp {
            let _ = t.keep();
        }
        println!("filled; measure with --reuse {}", data.display());
        if args.crash {
            // The store was never closed: end the process with its threads
            // still running, as a crash would.
            std::process::exit(0);
        }
        return Ok(());
    }

    // The gateway first: its first start meets the store as the fill's close
    // left it (or, after a `--crash` fill, the crash), as a restart after a
    // busy day.
    let (mut readies, mut stops) = (Vec::new(), Vec::new());
    if let Some(bin) = &args.gateway {
        for run in 0..args.runs {
            let (child, ready) = start_gateway(bin, &data)?;
            let stop = stop_gateway(child)?;
            eprintln!(
                "gateway start to ready {}: {:.3} s, SIGTERM to exit {:.3} s",
                run + 1,
                ready.as_secs_f64(),
                stop.as_secs_f64()
            );
            readies.push(ready.as_secs_f64());
            stops.push(stop.as_secs_f64());
        }
    }

    let mut opens = Vec::new();
    let mut first_loads = Vec::new();
    for run in 0..args.runs {
        let t = Instant::now();
        let store = EmbeddedStore::open(&store_dir, EmbeddedConfig::default())?;
        let open = t.elapsed();
        let t = Instant::now();
        let found = runtime.block_on(store.load_pass(PassId(pass_key(run))))?;
        first_loads.push(t.elapsed().as_secs_f64() * 1e3);
        if found.is_none() {
            return Err("the store lost a pass".into());
        }
        runtime.block_on(store.close())?;
        drop(store);
        eprintln!("open {}: {:.3} s", run + 1, open.as_secs_f64());
        opens.push(open.as_secs_f64());
    }

    let json = format!(
        "{{\"bench\":\"reopen\",\"records\":{},\"passes\":{},\"fill_s\":{},\"close_s\":{},\"store_disk_bytes\":{disk_bytes},\"journal_files\":{journals},\"open_s\":{:?},\"open_median_s\":{:.3},\"first_load_ms\":{:?},\"serve_ready_s\":{:?},\"serve_ready_median_s\":{},\"serve_stop_s\":{:?}}}",
        // Unknown for a reused dir.
        if args.reuse.is_some() {
            "null".into()
        } else {
            args.records.to_string()
        },
        if args.reuse.is_some() {
            "null".into()
        } else {
            args.passes.to_string()
        },
        fill_s.map_or("null".into(), |s| format!("{s:.1}")),
        close_s.map_or("null".into(), |s| format!("{s:.2}")),
        round3(&opens),
        median(&mut opens.clone()),
        round3(&first_loads),
        round3(&readies),
        if readies.is_empty() {
            "null".into()
        } else {
            format!("{:.3}", median(&mut readies.clone()))
        },
        round3(&stops),
    );
    println!(
        "store of {} records ({:.0} MiB on disk): open median {:.3} s{}",
        if args.reuse.is_some() {
            "?".into()
        } else {
            args.records.to_string()
        },
        disk_bytes as f64 / (1 << 20) as f64,
        median(&mut opens),
        if readies.is_empty() {
            String::new()
        } else {
            format!(
                "; scangate serve spawn to ready median {:.3} s",
                median(&mut readies)
            )
        }
    );
    println!("{json}");
    if let Some(t) = temp
        && args.keep
    {
        eprintln!("kept {}", data.display());
        let _ = t.keep();
    }
    Ok(())
}

/// `cargo bench` runs in the package dir: a relative path that is not found
/// there is taken from the workspace root.
fn from_workspace(path: PathBuf) -> PathBuf {
    if path.is_relative() && !path.exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        return root.join(path);
    }
    path
}

fn round3(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 1e3).round() / 1e3).collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Fills the store and closes it; returns how long the close took. With
/// `--crash` it neither closes nor drops the store (`None`).
async fn fill(store_dir: &Path, args: &Args) -> Result<Option<Duration>, Failure> {
    let store = Arc::new(EmbeddedStore::open(store_dir, EmbeddedConfig::default())?);
    issue_passes(&*store, args.passes, EVENT, now_ms()).await?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..args.tasks.min(args.passes) {
        let mine: Vec<usize> = (t..args.passes).step_by(args.tasks).collect();
        let (store, done, total) = (store.clone(), done.clone(), args.records);
        set.spawn(async move { grant_loop(store, mine, t as u64, done, total).await });
    }
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let n = done.load(Ordering::Relaxed);
                eprintln!(
                    "  {n} records, {:.1}k/s",
                    n as f64 / started.elapsed().as_secs_f64() / 1e3
                );
            }
        })
    };
    while let Some(joined) = set.join_next().await {
        joined??;
    }
    progress.abort();
    if args.crash {
        std::mem::forget(store);
        return Ok(None);
    }
    let t = Instant::now();
    store.close().await?;
    Ok(Some(t.elapsed()))
}

/// Grants round-robin over this task's passes until `total` records are
/// claimed across all tasks (a claim is taken before the commit, so exactly
/// `total` are written).
async fn grant_loop(
    store: Arc<EmbeddedStore>,
    mine: Vec<usize>,
    task: u64,
    done: Arc<AtomicU64>,
    total: u64,
) -> Result<(), StoreError> {
    let mut uses = vec![0u32; mine.len()];
    let mut i = 0usize;
    let mut seq = 0u64;
    while done.fetch_add(1, Ordering::Relaxed) < total {
        let slot = i % mine.len();
        let now = now_ms();
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&task.to_be_bytes());
        id[8..].copy_from_slice(&seq.to_be_bytes());
        seq += 1;
        let record = grant(
            ScanId::from_random(id),
            mine[slot],
            now,
            uses[slot] + 1,
            EVENT,
        );
        loop {
            match store.commit_scan(record.clone()).await {
                Ok(()) => break,
                Err(StoreError::Busy) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(e) => return Err(e),
            }
        }
        uses[slot] += 1;
        i += 1;
    }
    Ok(())
}

fn count_journals(dir: &Path) -> std::io::Result<usize> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jnl"))
        .count())
}

fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Spawns `bin serve` on `data` and waits for "scangate ready" on its
/// stdout; returns the child and the time from spawn to that line.
fn start_gateway(bin: &Path, data: &Path) -> Result<(Child, Duration), Failure> {
    let t = Instant::now();
    let mut child = Command::new(bin)
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(line) => {
                if line?.contains("scangate ready") {
                    break;
                }
            }
            None => {
                let status = child.wait()?;
                return Err(format!("scangate serve exited before ready: {status}").into());
            }
        }
    }
    let ready = t.elapsed();
    // Keep draining stdout so the gateway never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, ready))
}

/// Sends SIGTERM and waits for a clean exit; returns how long that took.
fn stop_gateway(mut child: Child) -> Result<Duration, Failure> {
    let t = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("scangate serve exited with {status} on SIGTERM").into());
    }
    Ok(t.elapsed())
}
