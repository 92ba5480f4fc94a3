//! `/metrics` after real scans over QUIC: every counter moves by exactly what
//! the scans did, histograms are real Prometheus histograms, and overload
//! (`busy`, `rate_limited`) is counted once per answer.

use crate::common;

use common::{Gateway, metric, scan};
use futures_util::future::join_all;
use scangate_client::Scanner;
use scangate_core::{Decision, Reason};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a gauge may take to reflect a connection opening or closing.
const GAUGE_DEADLINE: Duration = Duration::from_secs(10);

/// One scrape, with the value of a series (name plus exact labels) by key.
struct Scrape(String);

impl Scrape {
    async fn take(gw: &Gateway) -> Scrape {
        Scrape(gw.metrics().await)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric(&self.0, name, labels)
    }
}

/// `after - before` for one series.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.get(name, labels) - before.get(name, labels)
}

fn scans(
    decision: &'static str,
    reason: &'static str,
    gate: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![("decision", decision), ("reason", reason), ("gate", gate)]
}

/// Polls `/metrics` until `name` reads `want`, or panics at the deadline.
async fn wait_for_gauge(gw: &Gateway, name: &str, want: f64) {
    let deadline = Instant::now() + GAUGE_DEADLINE;
    loop {
        let now = Scrape::take(gw).await.get(name, &[]);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {now}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `n` scans of `token` at once on one connection; the decisions, by reason.
async fn burst(
    scanner: &Scanner,
    token: &str,
    gate: &str,
    n: usize,
) -> HashMap<Option<Reason>, u64> {
    let replies = join_all((0..n).map(|_| scan(scanner, token, gate, None))).await;
    let mut by_reason = HashMap::new();
    for reply in replies {
        *by_reason.entry(reply.decision.reason()).or_default() += 1;
    }
    by_reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_exactly_what_the_scans_did() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One scan in flight per connection (a burst meets `busy`), and a device
    // bucket of 100 refilled at 1/s (a burst meets `rate_limited`).
    let gw = Gateway::start(
        dir.path(),
        &[
            "--max-in-flight-per-connection",
            "1",
            "--device-rate",
            "1",
            "--device-burst",
            "100",
        ],
    );
    let once = gw.issue_one(1).await;
    let unlimited = gw.issue(json!({"event": "fest", "unlimited": true})).await;
    let unlimited = &unlimited[0].token;

    let before = Scrape::take(&gw).await;
    assert_eq!(before.get("scangate_connections_open", &[]), 0.0);

    // Sequential scans: one grant, one used_up (both committed, one at a
    // time), one malformed token (answered at the edge, nothing stored).
    let s = gw.scanner("metrics-a").await;
    wait_for_gauge(&gw, "scangate_connections_open", 1.0).await;
    assert_eq!(
        scan(&s, &once.token, "north", None).await.decision,
        Decision::Granted
    );
    assert_eq!(
        scan(&s, &once.token, "north", None).await.decision,
        Decision::Denied(Reason::UsedUp)
    );
    assert_eq!(
        scan(&s, "NOT-A-TOKEN", "south", None).await.decision,
        Decision::Denied(Reason::Malformed)
    );
    // No gate: an error, not a decision.
    assert!(common::try_scan(&s, unlimited, "", None).await.is_err());
    let after = Scrape::take(&gw).await;
    for histogram in [
        "scangate_scan_seconds",
        "scangate_store_commit_seconds",
        "scangate_store_fold_wait_seconds",
        "scangate_store_batch_size",
    ] {
        assert!(
            after.0.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is exported as a Prometheus histogram"
        );
    }
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    assert_eq!(
        d("scangate_scans_total", &scans("granted", "none", "north")),
        1.0
    );
    assert_eq!(
        d("scangate_scans_total", &scans("denied", "used_up", "north")),
        1.0
    );
    assert_eq!(
        d(
            "scangate_scans_total",
            &scans("denied", "malformed", "south")
        ),
        1.0
    );
    assert_eq!(
        d("scangate_scans_total", &[]),
        3.0,
        "nothing else was counted"
    );
    assert_eq!(
        d("scangate_scan_errors_total", &[("code", "invalid_request")]),
        1.0
    );
    assert_eq!(d("scangate_scan_errors_total", &[]), 1.0);
    // Only scans that reach an actor are timed; both land in the +Inf bucket.
    assert_eq!(d("scangate_scan_seconds_count", &[]), 2.0);
    assert_eq!(d("scangate_scan_seconds_bucket", &[("le", "+Inf")]), 2.0);
    assert!(d("scangate_scan_seconds_sum", &[]) > 0.0);
    // Two decisions recorded durably, one at a time: two commits of one.
    assert_eq!(d("scangate_store_commits_total", &[]), 2.0);
    assert_eq!(d("scangate_store_batch_size_count", &[]), 2.0);
    assert_eq!(d("scangate_store_batch_size_sum", &[]), 2.0);
    assert_eq!(d("scangate_store_batch_size_bucket", &[("le", "1")]), 2.0);
    assert_eq!(d("scangate_store_commit_seconds_count", &[]), 2.0);
    // Each durable batch went to the fold thread once; fjall never lagged by
    // more than the batch just logged, well under its 16 MiB bound.
    assert_eq!(d("scangate_store_fold_wait_seconds_count", &[]), 2.0);
    let lag = metric(&after.0, "scangate_store_fold_lag_bytes", &[]);
    assert!(
        lag > 0.0 && lag < f64::from(1u32 << 20),
        "fold lag {lag} bytes after two one-scan batches"
    );
    // A store that can still write says so (1 would mean: restart, /readyz 503).
    assert_eq!(metric(&after.0, "scangate_store_failed", &[]), 0.0);
    // The room left on the data dir's disk, as `df` reports it (the disk is
    // shared with the rest of the machine: allow for its writes meanwhile).
    let available = metric(&after.0, "scangate_data_dir_available_bytes", &[]);
    let size = metric(&after.0, "scangate_data_dir_size_bytes", &[]);
    let (df_available, df_size) = df(&gw.dir);
    assert_eq!(size, df_size, "filesystem size");
    assert!(
        available > 0.0 && available <= size && (available - df_available).abs() < 512e6,
        "available {available} bytes, df says {df_available}"
    );
    // The first scan's actor loaded the pass from the cache (issuing cached
    // it) and stopped once the pass was used up; the rescan started a
    // second actor from the cache, which stopped too.
    assert_eq!(d("scangate_actors_started_total", &[]), 2.0);
    assert_eq!(d("scangate_cache_misses_total", &[]), 0.0);
    assert_eq!(d("scangate_cache_hits_total", &[]), 2.0);

    // Overload: 20 scans at once on a connection that allows one in flight.
    let before = Scrape::take(&gw).await;
    let busy_dev = gw.scanner("metrics-busy").await;
    let got = burst(&busy_dev, unlimited, "east", 20).await;
    let (granted, busy) = (
        got.get(&None).copied().unwrap_or(0),
        got.get(&Some(Reason::Busy)).copied().unwrap_or(0),
    );
    assert_eq!(granted + busy, 20, "only grants and busy: {got:?}");
    assert!(
        busy >= 1,
        "a burst of 20 on one in-flight slot meets busy: {got:?}"
    );
    let after = Scrape::take(&gw).await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    assert_eq!(
        d("scangate_scans_total", &scans("granted", "none", "east")),
        granted as f64
    );
    assert_eq!(
        d("scangate_scans_total", &scans("denied", "busy", "east")),
        busy as f64
    );
    assert_eq!(
        d("scangate_busy_total", &[("cause", "connection")]),
        busy as f64
    );
    assert_eq!(d("scangate_scan_seconds_count", &[]), granted as f64);

    // A device that sends more than its bucket holds: the rest is rate_limited.
    let before = Scrape::take(&gw).await;
    let hasty = gw.scanner("metrics-hasty").await;
    let got = burst(&hasty, "NOT-A-TOKEN", "west", 150).await;
    let limited = got.get(&Some(Reason::RateLimited)).copied().unwrap_or(0);
    let malformed = got.get(&Some(Reason::Malformed)).copied().unwrap_or(0);
    assert_eq!(limited + malformed, 150, "{got:?}");
    assert!(
        limited >= 1,
        "150 at once from a bucket of 100 meets rate_limited"
    );
    let after = Scrape::take(&gw).await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    assert_eq!(
        d(
            "scangate_scans_total",
            &scans("denied", "rate_limited", "west")
        ),
        limited as f64
    );
    assert_eq!(
        d(
            "scangate_scans_total",
            &scans("denied", "malformed", "west")
        ),
        malformed as f64
    );
    assert_eq!(
        d("scangate_scan_seconds_count", &[]),
        0.0,
        "edge answers are not timed"
    );

    // Connections: three open, then none.
    assert_eq!(after.get("scangate_connections_open", &[]), 3.0);
    for scanner in [s, busy_dev, hasty] {
        scanner.close().await;
    }
    wait_for_gauge(&gw, "scangate_connections_open", 0.0).await;

    // Every metric exported is documented.
    let exported: Vec<&str> = after
        .0
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(exported.len() >= 10, "{exported:?}");
    for name in exported {
        assert!(
            OPERATIONS_MD.contains(&format!("`{name}`")),
            "{name} is not listed in docs/operations.md"
        );
    }
}

const OPERATIONS_MD: &str = include_str!("../../../docs/operations.md");
const GRAFANA_JSON: &str = include_str!("../../../docs/grafana-dashboard.json");

/// Available and total bytes of the filesystem holding `dir`, by `df`.
fn df(dir: &std::path::Path) -> (f64, f64) {
    let out = std::process::Command::new("df")
        .args(["--block-size=1", "--output=avail,size"])
        .arg(dir)
        .output()
        .expect("run df");
    assert!(out.status.success(), "df failed");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let numbers: Vec<f64> = text
        .lines()
        .nth(1)
        .expect("a line per filesystem")
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    (numbers[0], numbers[1])
}

/// The metric names a text mentions (`scangate_...`), histogram suffixes removed.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("scangate_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .map(|n| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| n.strip_suffix(suffix).map(str::to_owned))
                .unwrap_or(n)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_grafana_dashboard_uses_documented_metrics_only() {
    let dashboard: serde_json::Value =
        serde_json::from_str(GRAFANA_JSON).expect("docs/grafana-dashboard.json is JSON");
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    let names = metric_names(GRAFANA_JSON);
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        assert!(
            OPERATIONS_MD.contains(&format!("`{name}`")),
            "{name} (in the Grafana dashboard) is not listed in docs/operations.md"
        );
    }
}

/// A guard's override is counted in `scangate_scans_total` as a grant with
/// its own reason, `override`, at its gate; a scanner's grant of the same
/// pass stays `reason="none"`, and an override the pass's status refuses
/// (409) counts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_is_counted_as_a_grant_with_its_own_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("gate-1").await;
    let pass = gw.issue_one(1).await;
    assert_eq!(
        scan(&s, &pass.token, "north", None).await.decision,
        Decision::Granted
    );
    let before = Scrape::take(&gw).await;
    let admit = format!("/v1/passes/{}/admit", pass.id);
    let admitted = gw
        .post(
            &admit,
            json!({"gate": "north", "reason": "ticket torn at the turnstile"}),
        )
        .await;
    assert_eq!(admitted["decision"], "granted", "{admitted}");
    let after = Scrape::take(&gw).await;
    let of = |reason| scans("granted", reason, "north");
    assert_eq!(
        delta(&before, &after, "scangate_scans_total", &of("override")),
        1.0
    );
    assert_eq!(
        delta(&before, &after, "scangate_scans_total", &of("none")),
        0.0
    );
    assert_eq!(
        delta(&before, &after, "scangate_guard_overrides_total", &[]),
        1.0
    );

    gw.post(
        &format!("/v1/passes/{}/revoke", pass.id),
        json!({"reason": "reported stolen"}),
    )
    .await;
    let (status, body) = gw
        .post_answer(&admit, json!({"gate": "north", "reason": "again"}))
        .await;
    assert_eq!(status, 409, "{body}");
    let refused = Scrape::take(&gw).await;
    assert_eq!(
        delta(&after, &refused, "scangate_scans_total", &of("override")),
        0.0
    );
}

/// After a restart the warm-up caches the passes on now: it counts them in
/// `scangate_cache_warmed_total`, and a first scan of one reads no store
/// (a cache hit, no miss).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_first_scans_are_served_from_the_warmed_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let passes = gw
        .issue(json!({"event": "fest", "max_uses": 1, "count": 3}))
        .await;
    assert!(gw.sigterm().success(), "drained and exited 0");

    let gw = Gateway::start(dir.path(), &[]);
    let deadline = Instant::now() + GAUGE_DEADLINE;
    let before = loop {
        let now = Scrape::take(&gw).await;
        if now.get("scangate_cache_warmed_total", &[]) >= 3.0 || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(before.get("scangate_cache_warmed_total", &[]), 3.0);
    let s = gw.scanner("warm-1").await;
    assert_eq!(
        scan(&s, &passes[0].token, "north", None).await.decision,
        Decision::Granted
    );
    let after = Scrape::take(&gw).await;
    assert_eq!(
        delta(&before, &after, "scangate_cache_misses_total", &[]),
        0.0
    );
    assert_eq!(
        delta(&before, &after, "scangate_cache_hits_total", &[]),
        1.0
    );
}
