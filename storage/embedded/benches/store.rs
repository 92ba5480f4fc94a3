//! The grant workload on the embedded engines, and on `EmbeddedStore` itself.
//!
//! Part 1, raw engines side by side: one grant = look up its scan id (a
//! miss), read the pass, write its use count, the scan record and the scan
//! id; `batch` grants per durable commit (fjall: write batch with
//! `PersistMode::SyncData`; redb: one write transaction, `Durability::Immediate`).
//! Part 2: `EmbeddedStore` driven by many concurrent tokio tasks, so its
//! group commit forms the batches.
//!
//! `cargo bench -p scangate-storage-embedded` takes about a minute. Knobs (env):
//! `SCANGATE_BENCH_SECS` per row (default 3), `SCANGATE_BENCH_PASSES`
//! (default 100000), `SCANGATE_BENCH_DIR` (default the system temp dir; it
//! must be on the disk being measured, not tmpfs), `SCANGATE_BENCH_ONLY=store`
//! (part 2 only), `SCANGATE_BENCH_MAX_WAIT_US` (the store's `max_wait_us`).
//! Part 2's "grants per sync" counts the store's group commits (its
//! `scangate_store_commits_total`; one `fdatasync` each).

use redb::{ReadableTable as _, TableDefinition};
mod common;

use common::{grant, issue_passes, pass_key};
use scangate_core::ScanId;
use scangate_storage::{Store, StoreError};
use scangate_storage_embedded::{EmbeddedConfig, EmbeddedStore};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The event of every pass and grant the bench writes.
const EVENT: &str = "bench-2026";

const BATCHES: [usize; 4] = [1, 8, 64, 256];
const IN_FLIGHT: [usize; 4] = [1, 8, 64, 256];
const PASS_VALUE: [u8; 80] = [0x5a; 80];
const SCAN_VALUE: [u8; 60] = [0xa5; 60];

const R_PASSES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("passes");
const R_USES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("uses");
const R_SCANS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("scans");
const R_SCAN_IDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("scan_ids");

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let secs = env_or("SCANGATE_BENCH_SECS", 3);
    let passes = env_or("SCANGATE_BENCH_PASSES", 100_000) as usize;
    let base = std::env::var_os("SCANGATE_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let run_for = Duration::from_secs(secs);
    println!(
        "grant workload: {passes} passes, {secs} s per row, data under {}\n",
        base.display()
    );

    if std::env::var("SCANGATE_BENCH_ONLY").as_deref() != Ok("store") {
        engine_rows(&base, passes, run_for)?;
    }

    let max_wait_us = env_or(
        "SCANGATE_BENCH_MAX_WAIT_US",
        EmbeddedConfig::default().max_wait_us,
    );
    println!(
        "\n| EmbeddedStore (max wait {max_wait_us} µs), grants in flight | grants/s | grant latency p50 | p99 | busy answers | grants per sync |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let commits = syncs::install()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir_in(&base)?;
    let config = EmbeddedConfig {
        max_wait_us,
        ..EmbeddedConfig::default()
    };
    runtime.block_on(embedded_rows(dir.path(), config, passes, run_for, &commits))
}

/// Part 1: the raw engines, side by side.
fn engine_rows(base: &Path, passes: usize, run_for: Duration) -> Result<(), Failure> {
    println!(
        "| grants per durable commit | fjall grants/s | fjall commit p99 | redb grants/s | redb commit p99 | fjall / redb |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let fjall_dir = tempfile::tempdir_in(base)?;
    let mut fjall = FjallGrants::open(fjall_dir.path(), passes)?;
    let redb_dir = tempfile::tempdir_in(base)?;
    let mut redb = RedbGrants::open(redb_dir.path(), passes)?;
    for batch in BATCHES {
        let f = drive(run_for, batch, passes, |keys| fjall.grant_batch(keys))?;
        let r = drive(run_for, batch, passes, |keys| redb.grant_batch(keys))?;
        println!(
            "| {batch} | {:.1}k | {:.2} ms | {:.1}k | {:.2} ms | {:.2}× |",
            f.rate / 1e3,
            f.p99_ms,
            r.rate / 1e3,
            r.p99_ms,
            f.rate / r.rate
        );
    }
    Ok(())
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64: cheap, reproducible picks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The keys of one grant.
struct GrantKeys {
    pass: [u8; 16],
    scan_id: [u8; 32],
    scan_key: [u8; 24],
}

struct RowResult {
    rate: f64,
    p99_ms: f64,
}

/// Runs batches of `batch` random grants for `run_for`; `commit` applies one
/// batch durably.
fn drive(
    run_for: Duration,
    batch: usize,
    passes: usize,
    mut commit: impl FnMut(&[GrantKeys]) -> Result<(), Failure>,
) -> Result<RowResult, Failure> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ batch as u64);
    let mut times = Vec::new();
    let mut grants = 0u64;
    let started = Instant::now();
    while started.elapsed() < run_for {
        let keys: Vec<GrantKeys> = (0..batch)
            .map(|_| {
                let r = rng.next();
                let mut scan_id = [0u8; 32];
                scan_id[..8].copy_from_slice(&r.to_be_bytes());
                scan_id[8..16].copy_from_slice(&grants.to_be_bytes());
                let pass = pass_key(r as usize % passes);
                let mut scan_key = [0u8; 24];
                scan_key[..16].copy_from_slice(&pass);
                scan_key[16..].copy_from_slice(&started.elapsed().as_nanos().to_be_bytes()[8..]);
                grants += 1;
                GrantKeys {
                    pass,
                    scan_id,
                    scan_key,
                }
            })
            .collect();
        let t = Instant::now();
        commit(&keys)?;
        times.push(t.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort_unstable();
    let p99 = times
        .get(times.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    Ok(RowResult {
        rate: grants as f64 / elapsed,
        p99_ms: p99.as_secs_f64() * 1e3,
    })
}

struct FjallGrants {
    db: fjall::Database,
    passes: fjall::Keyspace,
    uses: fjall::Keyspace,
    scans: fjall::Keyspace,
    scan_ids: fjall::Keyspace,
}

impl FjallGrants {
    fn open(dir: &Path, passes: usize) -> Result<Self, Failure> {
        let db = fjall::Database::builder(dir).open()?;
        let ks = |n: &str| db.keyspace(n, fjall::KeyspaceCreateOptions::default);
        let me = FjallGrants {
            passes: ks("passes")?,
            uses: ks("uses")?,
            scans: ks("scans")?,
            scan_ids: ks("scan_ids")?,
            db,
        };
        for chunk in (0..passes).collect::<Vec<_>>().chunks(10_000) {
            let mut b = me.db.batch();
            for &n in chunk {
                b.insert(&me.passes, pass_key(n), PASS_VALUE);
                b.insert(&me.uses, pass_key(n), 0u32.to_be_bytes());
            }
            b.commit()?;
        }
        me.db.persist(fjall::PersistMode::SyncData)?;
        Ok(me)
    }

    fn grant_batch(&mut self, keys: &[GrantKeys]) -> Result<(), Failure> {
        let mut b = self
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncData));
        for k in keys {
            if self.scan_ids.get(k.scan_id)?.is_some() {
                return Err("scan id hit".into());
            }
            let pass = self.passes.get(k.pass)?.ok_or("pass missing")?;
            std::hint::black_box(pass);
            b.insert(&self.uses, k.pass, 1u32.to_be_bytes());
            b.insert(&self.scans, k.scan_key, SCAN_VALUE);
            b.insert(&self.scan_ids, k.scan_id, k.scan_key);
        }
        b.commit()?;
        Ok(())
    }
}

struct RedbGrants {
    db: redb::Database,
}

impl RedbGrants {
    fn open(dir: &Path, passes: usize) -> Result<Self, Failure> {
        let db = redb::Database::create(dir.join("bench.redb"))?;
        let tx = db.begin_write()?;
        {
            let mut p = tx.open_table(R_PASSES)?;
            let mut u = tx.open_table(R_USES)?;
            for n in 0..passes {
                p.insert(pass_key(n).as_slice(), PASS_VALUE.as_slice())?;
                u.insert(pass_key(n).as_slice(), 0u32.to_be_bytes().as_slice())?;
            }
            tx.open_table(R_SCANS)?;
            tx.open_table(R_SCAN_IDS)?;
        }
        tx.commit()?;
        Ok(RedbGrants { db })
    }

    fn grant_batch(&mut self, keys: &[GrantKeys]) -> Result<(), Failure> {
        let tx = self.db.begin_write()?;
        {
            let passes = tx.open_table(R_PASSES)?;
            let mut uses = tx.open_table(R_USES)?;
            let mut scans = tx.open_table(R_SCANS)?;
            let mut scan_ids = tx.open_table(R_SCAN_IDS)?;
            for k in keys {
                if scan_ids.get(k.scan_id.as_slice())?.is_some() {
                    return Err("scan id hit".into());
                }
                let pass = passes.get(k.pass.as_slice())?.ok_or("pass missing")?;
                std::hint::black_box(pass.value().len());
                uses.insert(k.pass.as_slice(), 1u32.to_be_bytes().as_slice())?;
                scans.insert(k.scan_key.as_slice(), SCAN_VALUE.as_slice())?;
                scan_ids.insert(k.scan_id.as_slice(), k.scan_key.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// `EmbeddedStore` under 1, 8, 64 and 256 concurrent granting tasks; each task
/// owns its own passes, so every grant applies (no conflicts).
async fn embedded_rows(
    dir: &Path,
    config: EmbeddedConfig,
    passes: usize,
    run_for: Duration,
    commits: &AtomicU64,
) -> Result<(), Failure> {
    let store = Arc::new(EmbeddedStore::open(dir, config)?);
    issue_passes(&*store, passes, EVENT, 1_790_000_000_000).await?;
    let mut uses = vec![0u32; passes];
    let mut scan_counter = 0u64;
    for tasks in IN_FLIGHT {
        let mut set = tokio::task::JoinSet::new();
        let deadline = Instant::now() + run_for;
        let started = Instant::now();
        let commits_before = commits.load(Ordering::Relaxed);
        for t in 0..tasks {
            let store = store.clone();
            let mine: Vec<(usize, u32)> =
                (t..passes).step_by(tasks).map(|n| (n, uses[n])).collect();
            let scan_base = scan_counter + (t as u64) * 1_000_000_000;
            set.spawn(async move { grant_loop(store, mine, scan_base, deadline).await });
        }
        let (mut grants, mut busy, mut latencies) = (0u64, 0u64, Vec::new());
        while let Some(done) = set.join_next().await {
            let (mine, g, b, lat) = done??;
            for (n, u) in mine {
                uses[n] = u;
            }
            grants += g;
            busy += b;
            latencies.extend(lat);
        }
        scan_counter += (tasks as u64) * 1_000_000_000;
        let rate = grants as f64 / started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let pct = |p: usize| {
            latencies
                .get(latencies.len() * p / 100)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let syncs = commits.load(Ordering::Relaxed) - commits_before;
        println!(
            "| {tasks} | {:.1}k | {:.2} ms | {:.2} ms | {busy} | {:.1} |",
            rate / 1e3,
            pct(50),
            pct(99),
            grants as f64 / syncs.max(1) as f64
        );
    }
    store.close().await?;
    Ok(())
}

type LoopResult = (Vec<(usize, u32)>, u64, u64, Vec<Duration>);

async fn grant_loop(
    store: Arc<EmbeddedStore>,
    mut mine: Vec<(usize, u32)>,
    scan_base: u64,
    deadline: Instant,
) -> Result<LoopResult, StoreError> {
    let (mut grants, mut busy, mut latencies) = (0u64, 0u64, Vec::new());
    let mut i = 0usize;
    while Instant::now() < deadline && !mine.is_empty() {
        let slot = i % mine.len();
        let (n, used) = mine[slot];
        let record = grant(
            ScanId::from_random(u128::from(scan_base + i as u64).to_be_bytes()),
            n,
            1_790_000_000_000 + i as i64,
            used + 1,
            EVENT,
        );
        i += 1;
        let t = Instant::now();
        match store.commit_scan(record).await {
            Ok(()) => {
                mine[slot].1 += 1;
                grants += 1;
                latencies.push(t.elapsed());
            }
            Err(StoreError::Busy) => {
                busy += 1;
                tokio::task::yield_now().await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((mine, grants, busy, latencies))
}

/// A metrics recorder that counts the store's group commits and drops
/// every other metric.
mod syncs {
    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    struct Commits(Arc<AtomicU64>);

    impl Recorder for Commits {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            if key.name() == "scangate_store_commits_total" {
                Counter::from_arc(Arc::clone(&self.0))
            } else {
                Counter::noop()
            }
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// Installs the recorder; returns the count of group commits.
    pub fn install() -> Result<Arc<AtomicU64>, super::Failure> {
        let commits = Arc::new(AtomicU64::new(0));
        metrics::set_global_recorder(Commits(Arc::clone(&commits)))
            .map_err(|e| format!("cannot install the commit counter: {e}"))?;
        Ok(commits)
    }
}
