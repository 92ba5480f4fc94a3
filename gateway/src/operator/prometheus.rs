//! The Prometheus recorder behind `/metrics`: which metrics are histograms
//! and their buckets. Every metric the gateway emits is listed, with its
//! labels, in docs/operations.md ("Metrics").

use anyhow::{Context, Result};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of `scangate_scan_seconds`, seconds. A scan that reaches a pass's
/// actor costs a group commit (a few ms with fsync); the low end separates
/// cache-hot denials from commits, the high end catches store stalls up to
/// the actor's deadline.
pub const SCAN_SECONDS_BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Buckets of `scangate_store_commit_seconds` (one fsync'd batch),
/// `scangate_store_checkpoint_seconds` and
/// `scangate_store_fold_wait_seconds`, seconds: from a fast NVMe sync to a
/// disk that stalls.
pub const COMMIT_SECONDS_BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Buckets of `scangate_store_batch_size`, commands per commit: powers of two
/// up to the embedded store's largest batch (256).
pub const BATCH_SIZE_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Buckets of `scangate_offline_snapshot_build_seconds`, seconds: from a
/// small event (milliseconds) to 1M passes on a busy gateway (a few s).
pub const BUILD_SECONDS_BUCKETS: [f64; 10] =
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Installs the process-wide recorder; histograms are exported as Prometheus
/// histograms (`_bucket`, `_sum`, `_count`), so they aggregate across nodes.
pub fn install() -> Result<PrometheusHandle> {
    let histograms: [(&str, &[f64]); 7] = [
        ("scangate_scan_seconds", &SCAN_SECONDS_BUCKETS),
        ("scangate_gate_scan_seconds", &SCAN_SECONDS_BUCKETS),
        ("scangate_store_commit_seconds", &COMMIT_SECONDS_BUCKETS),
        ("scangate_store_checkpoint_seconds", &COMMIT_SECONDS_BUCKETS),
        ("scangate_store_fold_wait_seconds", &COMMIT_SECONDS_BUCKETS),
        ("scangate_store_batch_size", &BATCH_SIZE_BUCKETS),
        (
            "scangate_offline_snapshot_build_seconds",
            &BUILD_SECONDS_BUCKETS,
        ),
    ];
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in histograms {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            .with_context(|| format!("bad buckets for {name}"))?;
    }
    let handle = builder
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    describe();
    Ok(handle)
}

/// What a metric is, for its `# HELP` line.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Counter,
    Gauge,
    Histogram,
}
use Shape::{Counter, Gauge, Histogram};

/// Every metric the gateway emits, whichever crate records it: its shape,
/// name, unit (where it has one) and help text.
const METRICS: &[(Shape, &str, Option<Unit>, &str)] = &[
    (
        Counter,
        "scangate_scans_total",
        None,
        "Scans decided, by decision, reason (none when granted) and gate (first 256 names, then `other`)",
    ),
    (
        Histogram,
        "scangate_scan_seconds",
        Some(Unit::Seconds),
        "Time to decide a scan that reached its pass's actor (durable commit included)",
    ),
    (
        Histogram,
        "scangate_gate_scan_seconds",
        Some(Unit::Seconds),
        "scangate_scan_seconds by gate (first 256 names, then `other`): a gate's p99 is \
         histogram_quantile(0.99, sum by (gate, le) (rate(..._bucket[1m])))",
    ),
    (
        Gauge,
        "scangate_connections_open",
        None,
        "Scanner QUIC connections open",
    ),
    (
        Gauge,
        "scangate_http_connections_open",
        None,
        "Operator HTTP connections open",
    ),
    (
        Counter,
        "scangate_http_connections_refused_total",
        None,
        "Operator HTTP connections refused with 503: the connection cap was reached",
    ),
    (
        Counter,
        "scangate_http_timeouts_total",
        None,
        "Operator HTTP connections closed by a timeout, by cause (header, idle)",
    ),
    (
        Counter,
        "scangate_connections_refused_total",
        None,
        "Scanner connections refused, by cause (limit, handshakes, source, retry, handshake, handshake_timeout, unnamed_device, revoked)",
    ),
    (
        Counter,
        "scangate_quic_retries_total",
        None,
        "Connection attempts from unvalidated addresses answered with a stateless QUIC Retry",
    ),
    (
        Gauge,
        "scangate_handshakes_in_progress",
        None,
        "TLS handshakes in progress from validated addresses (bounded by max_handshakes)",
    ),
    (
        Counter,
        "scangate_bad_frames_total",
        None,
        "Frames answered with an error, by cause (malformed, too_large, version)",
    ),
    (
        Counter,
        "scangate_early_data_refused_total",
        None,
        "Streams refused because they carried 0-RTT data",
    ),
    (
        Counter,
        "scangate_busy_total",
        None,
        "Requests answered busy, by the bound that was hit (connection, actors, spawn, queue, restart, store)",
    ),
    (
        Counter,
        "scangate_store_reads_total",
        None,
        "Store reads, by operation",
    ),
    (
        Counter,
        "scangate_store_commits_total",
        None,
        "Group commits synced to disk",
    ),
    (
        Counter,
        "scangate_store_commit_failures_total",
        None,
        "Group commits that failed",
    ),
    (
        Histogram,
        "scangate_store_batch_size",
        Some(Unit::Count),
        "Commands in one group commit",
    ),
    (
        Histogram,
        "scangate_store_commit_seconds",
        Some(Unit::Seconds),
        "Time to write and sync one group commit",
    ),
    (
        Histogram,
        "scangate_store_fold_wait_seconds",
        Some(Unit::Seconds),
        "Time the store writer spent handing one durable batch to the fold thread, waits for fjall to catch up included",
    ),
    (
        Gauge,
        "scangate_store_fold_lag_bytes",
        Some(Unit::Bytes),
        "Redo-log bytes of acknowledged batches that fjall did not hold yet, as of the last batch",
    ),
    (
        Counter,
        "scangate_cache_hits_total",
        None,
        "Pass loads answered by the hot cache",
    ),
    (
        Counter,
        "scangate_cache_misses_total",
        None,
        "Pass loads that went to the store",
    ),
    (
        Counter,
        "scangate_cache_warmed_total",
        None,
        "Passes the warm-up after a start put in the hot cache",
    ),
    (
        Gauge,
        "scangate_cache_warm_up_seconds",
        Some(Unit::Seconds),
        "How long the last warm-up of the hot cache took, rests between its pages included",
    ),
    (
        Counter,
        "scangate_cache_negative_hits_total",
        None,
        "Loads of unknown passes answered by the negative cache",
    ),
    (
        Counter,
        "scangate_actors_started_total",
        None,
        "Pass actors started",
    ),
    (Gauge, "scangate_actors_live", None, "Pass actors alive now"),
    (
        Counter,
        "scangate_store_late_writes_total",
        None,
        "Store writes that outlived the store deadline: answered unavailable, then waited for",
    ),
    (
        Counter,
        "scangate_scan_errors_total",
        None,
        "Scans answered with an error instead of a decision, by code (invalid_request, unavailable, shutting_down, scan_id_conflict)",
    ),
    (
        Counter,
        "scangate_scans_abandoned_total",
        None,
        "Scans whose caller gave up while they waited in their pass's queue; not decided",
    ),
    (
        Gauge,
        "scangate_store_failed",
        None,
        "1 once the store can make nothing more durable until a restart (see /readyz), else 0",
    ),
    (
        Gauge,
        "scangate_data_dir_available_bytes",
        None,
        "Bytes an unprivileged writer may still use on the data dir's filesystem",
    ),
    (
        Gauge,
        "scangate_data_dir_size_bytes",
        None,
        "Size of the data dir's filesystem in bytes",
    ),
    (
        Gauge,
        "scangate_offline_snapshot_bytes",
        None,
        "Bytes of signed offline snapshots and deltas held in memory (a snapshot counts twice: bytes and table)",
    ),
    (
        Counter,
        "scangate_retention_removed_total",
        None,
        "Records removed by the retention sweep, by table (scans, audit, conflicts, incidents)",
    ),
    (
        Counter,
        "scangate_offline_snapshot_builds_total",
        None,
        "Offline snapshot builds, by outcome (built, failed)",
    ),
    (
        Histogram,
        "scangate_offline_snapshot_build_seconds",
        None,
        "Time to build and sign one offline snapshot, off the runtime's workers",
    ),
    (
        Counter,
        "scangate_offline_snapshot_chunks_total",
        None,
        "Snapshot replies sent to scanners, by kind (snapshot, delta, current)",
    ),
    (
        Counter,
        "scangate_offline_snapshot_refused_total",
        None,
        "Snapshot requests answered with an error, by code (snapshot_unavailable, invalid_request, unavailable)",
    ),
    (
        Counter,
        "scangate_offline_scans_total",
        None,
        "Uploaded offline scans, by status (recorded, duplicate: recorded by an earlier upload, refused: not recorded)",
    ),
    (
        Counter,
        "scangate_offline_conflicts_total",
        None,
        "Conflicts flagged on uploaded offline scans, by kind (one per rule broken; every kind listed from 0)",
    ),
];

/// `# HELP` lines for every metric in [`METRICS`].
fn describe() {
    for &(shape, name, unit, help) in METRICS {
        match (shape, unit) {
            (Counter, None) => describe_counter!(name, help),
            (Counter, Some(unit)) => describe_counter!(name, unit, help),
            (Gauge, None) => describe_gauge!(name, help),
            (Gauge, Some(unit)) => describe_gauge!(name, unit, help),
            (Histogram, None) => describe_histogram!(name, help),
            (Histogram, Some(unit)) => describe_histogram!(name, unit, help),
        }
    }
}
