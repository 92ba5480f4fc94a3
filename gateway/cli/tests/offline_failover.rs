//! The gateway dies while four scanners admit (issue 26, test 1): a real
//! `scangate` process, four SDK `OfflineScanner`s with their own device
//! certificates and state directories, real QUIC on loopback. The gateway
//! is killed with SIGKILL mid-run; every scanner goes offline within its
//! configured threshold and keeps deciding from its signed snapshot; the
//! gateway restarts on the same data dir and ports; the scanners come back
//! online and upload. Then the gateway's own records are checked against
//! every decision any scanner showed.
//!
//! A scan in flight when the gateway died may have been decided and made
//! durable by the gateway although its answer never left; the lane then
//! decides it offline under the same scan id. An online denial with an
//! offline grant is recorded twice, as it happened: the denial under the
//! id, the grant under `ScanId::offline` of it, counted and flagged. An
//! online grant with an offline denial is counted apart as a lost answer (a
//! use counted that no one made: devices do not upload denials); the test
//! lists each one and checks every count with them taken into account.

use crate::common;

use common::Gateway;
use common::relay::Relay;
use common::scanners::records::{Accounted, check_records};
use common::scanners::{
    Board, LaneLog, Load, Shown, device_config, snapshot_key, spawn_lane, wait_for,
};
use scangate_client::{Mode, ModeConfig, OfflineConfig, OfflineScanner, ScannerConfig};
use scangate_gateway::operator::api::PassView;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Scanners admitting at once (the issue's four).
const LANES: usize = 4;
/// The event's passes: single-use tickets, three-use passes, unlimited passes.
const SINGLE_USE: u32 = 40;
const THREE_USE: u32 = 16;
const UNLIMITED: u32 = 4;
/// How often each kind comes up in one round of the shuffled order: a
/// three-use pass is shown twice a round, an unlimited one three times.
const SHOWN_PER_ROUND: [usize; 3] = [1, 2, 3];
/// Rounds in the order: 84 scans each, 3,360 in all, about seven times
/// what a run makes (a lane stops at the end, and the test then fails
/// naming the phase it missed). It also bounds each lane's log.
const ROUNDS: usize = 40;
/// Between the starts of two scans of one lane: offered load (50 people a
/// second per lane), not synchronisation.
const PACE: Duration = Duration::from_millis(20);
/// Decisions every lane shows in each phase (online, offline, online again)
/// before the test moves on.
const PER_PHASE: usize = 15;
/// Offline decisions every lane shows after its switch before the gateway
/// is restarted: about a second of deciding alone, so the same ticket
/// comes to one lane more than once.
const OFFLINE_DECISIONS: usize = 40;
/// Longest any phase may take.
const PHASE_DEADLINE: Duration = Duration::from_secs(30);
/// What a loaded two-core box adds to a bound made of the SDK's deadlines:
/// task wake-ups and the offline queue's `fdatasync` per grant.
const SCHEDULING_SLACK: Duration = Duration::from_secs(1);

/// Between two looks at a pass's scans while waiting for a record.
const RECORD_POLL: Duration = Duration::from_millis(20);

/// One online try's deadline: a gateway on loopback answers in
/// milliseconds, so a second without an answer means it is gone.
const REQUEST_TIMEOUT_MS: u64 = 1_000;

/// The lanes' SDK settings: one try per scan (a lane falls back to its
/// snapshot after one missed deadline, not after three).
fn lane_config(gw: &Gateway, lane: usize) -> ScannerConfig {
    let mut config = device_config(&gw.dir, gw.quic, &format!("failover-lane-{lane}"));
    config.request_timeout_ms = REQUEST_TIMEOUT_MS;
    config.connect_timeout_ms = REQUEST_TIMEOUT_MS;
    config.attempts = 1;
    config
}

/// The lanes' mode thresholds: offline after two failed tries in a row, a
/// probe every second while offline. Any answer within the deadline counts
/// as fast: slowness is not what this test is about.
fn mode_config() -> ModeConfig {
    ModeConfig {
        failures_to_offline: 2,
        probe_interval_ms: 1_000,
        slow_answer_ms: REQUEST_TIMEOUT_MS,
        ..ModeConfig::default()
    }
}

/// The bounds this test asserts, all from the lanes' config.
struct Bounds {
    /// Kill to a lane's first offline decision: the scan in flight or the
    /// next one (within a pace) runs into its deadline and falls back.
    first_offline: Duration,
    /// Kill to the lane's switch to offline: `failures_to_offline` such scans.
    switch: Duration,
    /// Gateway ready to a lane's first online decision: a probe in flight
    /// runs out, then the next probe is due within the probe interval.
    back_online: Duration,
}

impl Bounds {
    fn of(scanner: &ScannerConfig, mode: &ModeConfig) -> Bounds {
        let one_try = scanner.request_timeout() * scanner.attempts;
        let probe = Duration::from_millis(mode.probe_interval_ms);
        Bounds {
            first_offline: PACE + one_try + SCHEDULING_SLACK,
            switch: (PACE + one_try) * mode.failures_to_offline + SCHEDULING_SLACK,
            back_online: one_try + probe + PACE + SCHEDULING_SLACK,
        }
    }
}

/// Issues the event's passes: single-use first, then three-use, then unlimited.
async fn issue_passes(gw: &Gateway) -> Vec<PassView> {
    let mut passes = gw
        .issue(json!({"event": "fest", "count": SINGLE_USE, "max_uses": 1}))
        .await;
    passes.extend(
        gw.issue(json!({"event": "fest", "count": THREE_USE, "max_uses": 3}))
            .await,
    );
    passes.extend(
        gw.issue(json!({"event": "fest", "count": UNLIMITED, "unlimited": true}))
            .await,
    );
    passes
}

/// The scan order: every round holds each pass `SHOWN_PER_ROUND` times for
/// its kind, shuffled with `seed`, so the same ticket comes to several lanes.
fn scan_order(passes: &[PassView], seed: u64) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let times = |p: &PassView| match p.max_uses {
        Some(1) => SHOWN_PER_ROUND[0],
        Some(_) => SHOWN_PER_ROUND[1],
        None => SHOWN_PER_ROUND[2],
    };
    let mut order = Vec::new();
    for _ in 0..ROUNDS {
        let mut round: Vec<usize> = (0..passes.len())
            .flat_map(|i| std::iter::repeat_n(i, times(&passes[i])))
            .collect();
        rng.shuffle(&mut round);
        order.extend(round);
    }
    order
}

/// Opens lane `lane` (pinning the key from the data dir) and fetches its
/// snapshot while the gateway is up.
/// Its state lives in `devices/lane-N`, away from the gateway's data dir.
async fn open_lane(gw: &Gateway, devices: &Path, lane: usize, passes: usize) -> OfflineScanner {
    open_lane_via(gw, gw.quic, devices, lane, passes).await
}

/// [`open_lane`], the lane sending to `addr` (a relay) instead of the
/// gateway's QUIC address.
async fn open_lane_via(
    gw: &Gateway,
    addr: SocketAddr,
    devices: &Path,
    lane: usize,
    passes: usize,
) -> OfflineScanner {
    let mut offline = OfflineConfig::new(devices.join(format!("lane-{lane}")), "fest");
    offline.mode = mode_config();
    let mut config = lane_config(gw, lane);
    config.server_addr = addr;
    let key = snapshot_key(&gw.dir);
    let mut scanner = OfflineScanner::open(config, offline, Some(key)).expect("open the lane");
    let got = scanner
        .refresh(scangate_gateway::now_ms())
        .await
        .expect("a snapshot while online");
    assert_eq!(
        got.entries, passes,
        "lane {lane}'s snapshot holds every pass"
    );
    scanner
}

/// The seed of the scan order: `FAILOVER_SEED` to repeat a run, else a new one.
fn seed() -> u64 {
    let seed = std::env::var("FAILOVER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("scan order seed {seed} (FAILOVER_SEED={seed} repeats it)");
    seed
}

/// The moments the test moved the run on.
struct Timeline {
    /// Just before SIGKILL was sent.
    killing: Instant,
    /// Once the killed process was reaped.
    dead: Instant,
    /// Just before the restart began.
    restarting: Instant,
    /// When the restarted gateway said it was ready.
    ready: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_scanners_ride_out_a_gateway_kill_and_every_grant_is_recorded_once() {
    let run = Instant::now();
    let (data, devices) = (tempdir(), tempdir());
    let gw = Gateway::start(data.path(), &[]);
    let passes = issue_passes(&gw).await;
    let bounds = Bounds::of(&lane_config(&gw, 0), &mode_config());
    let tokens = passes.iter().map(|p| p.token.clone()).collect();
    let load = Load::new(tokens, scan_order(&passes, seed()), PACE);
    let (board, watch) = watch::channel(vec![LaneLog::default(); LANES]);
    let mut lanes = Vec::new();
    for lane in 0..LANES {
        let scanner = open_lane(&gw, devices.path(), lane, passes.len()).await;
        let gate = format!("gate-{lane}");
        lanes.push(spawn_lane(lane, scanner, gate, load.clone(), board.clone()));
    }
    let (gw, times) = kill_and_restart(gw, &watch).await;
    load.stop();
    for lane in lanes {
        lane.await.expect("lane task");
    }
    let board: Board = watch.borrow().clone();
    for (lane, log) in board.iter().enumerate() {
        check_lane(lane, log, &bounds, &times);
    }
    check_devices_count_their_own(&passes, &board, times.restarting);
    let counted = check_records(&gw, &passes, &board, times.killing).await;
    assert!(counted.offline_grants > 0, "the lanes granted offline");
    report(&counted);
    eprintln!("whole test: {:?}", run.elapsed());
    assert!(gw.sigterm().success());
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// While the lanes admit: waits for online decisions, kills the gateway,
/// waits for every lane to decide offline, restarts the gateway on the same
/// data dir and ports, waits for every lane to be online with its queue
/// uploaded.
async fn kill_and_restart(gw: Gateway, watch: &watch::Receiver<Board>) -> (Gateway, Timeline) {
    wait_for(watch, "every lane decides online", PHASE_DEADLINE, |b| {
        b.iter().all(|l| l.count(Mode::Online) >= PER_PHASE)
    })
    .await;
    let (dir, quic, http) = (gw.dir.clone(), gw.quic.to_string(), gw.http.to_string());
    let killing = Instant::now();
    gw.kill9();
    let dead = Instant::now();
    let what = "every lane offline, deciding from its snapshot";
    wait_for(watch, what, PHASE_DEADLINE, |b| {
        b.iter().all(|l| {
            offline_since(l, killing)
                .is_some_and(|t| l.count_since(Mode::Offline, t) >= OFFLINE_DECISIONS)
        })
    })
    .await;
    let restarting = Instant::now();
    let gw = tokio::task::spawn_blocking(move || {
        Gateway::start(&dir, &["--quic", &quic, "--http", &http])
    })
    .await
    .expect("restarted");
    let ready = Instant::now();
    let what = "every lane back online, its queue uploaded";
    wait_for(watch, what, PHASE_DEADLINE, |b| {
        b.iter()
            .all(|l| l.count_since(Mode::Online, ready) >= PER_PHASE && l.pending == 0)
    })
    .await;
    let times = Timeline {
        killing,
        dead,
        restarting,
        ready,
    };
    (gw, times)
}

/// When `log`'s lane switched to offline after `since`, if it did.
fn offline_since(log: &LaneLog, since: Instant) -> Option<Instant> {
    log.switches
        .iter()
        .find(|(at, mode)| *at > since && *mode == Mode::Offline)
        .map(|(at, _)| *at)
}

/// One lane: decided every scan, went offline within its bounds, decided
/// only offline while the gateway was dead, came back online within its
/// bound and stayed online.
fn check_lane(lane: usize, log: &LaneLog, bounds: &Bounds, t: &Timeline) {
    assert!(log.errors.is_empty(), "lane {lane}: {:?}", log.errors);
    assert_eq!(log.dropped, 0, "lane {lane}: queued scans refused for good");
    // A lane uploads whenever it is online with grants queued, so a sync
    // may run into the dead gateway before the lane switched to offline.
    for (at, why) in &log.sync_failures {
        assert!(
            *at < t.ready,
            "lane {lane}: a sync failed after the restart: {why}"
        );
    }
    let (first_offline, switched, down) = check_going_offline(lane, log, bounds, t);
    let back = check_coming_back(lane, log, bounds, t);
    eprintln!(
        "lane {lane}: first offline decision {first_offline:?} after the kill (bound {:?}), \
         offline mode {switched:?} (bound {:?}), {down} decisions while down, first online \
         decision {back:?} after ready (bound {:?}), {} offline grants uploaded",
        bounds.first_offline, bounds.switch, bounds.back_online, log.uploaded
    );
}

/// From the kill to the lane's first offline decision and to its switch to
/// offline, each within its bound; every decision while the gateway was
/// dead made offline. Returns both times and how many decisions that was.
fn check_going_offline(
    lane: usize,
    log: &LaneLog,
    bounds: &Bounds,
    t: &Timeline,
) -> (Duration, Duration, usize) {
    let first_offline = log
        .shown
        .iter()
        .find(|s| s.mode == Mode::Offline && s.at > t.killing)
        .map(|s| s.at - t.killing)
        .expect("an offline decision after the kill");
    assert!(
        first_offline <= bounds.first_offline,
        "lane {lane}: first offline decision {first_offline:?} after the kill, bound {:?}",
        bounds.first_offline
    );
    let switched = offline_since(log, t.killing).expect("offline") - t.killing;
    assert!(
        switched <= bounds.switch,
        "lane {lane}: offline {switched:?} after the kill, bound {:?}",
        bounds.switch
    );
    let down: Vec<&Shown> = log
        .shown
        .iter()
        .filter(|s| s.started > t.dead && s.at < t.restarting)
        .collect();
    assert!(
        down.len() >= PER_PHASE,
        "lane {lane}: {} while down",
        down.len()
    );
    assert!(
        down.iter().all(|s| s.mode == Mode::Offline),
        "lane {lane}: an online decision while the gateway was dead"
    );
    (first_offline, switched, down.len())
}

/// From the restarted gateway's readiness to the lane's first online
/// decision, within its bound; every decision after it made online.
fn check_coming_back(lane: usize, log: &LaneLog, bounds: &Bounds, t: &Timeline) -> Duration {
    let back = log
        .shown
        .iter()
        .find(|s| s.mode == Mode::Online && s.at > t.restarting)
        .expect("an online decision after the restart");
    let back_after = back.at.saturating_duration_since(t.ready);
    assert!(
        back_after <= bounds.back_online,
        "lane {lane}: online {back_after:?} after ready, bound {:?}",
        bounds.back_online
    );
    for s in log.shown.iter().filter(|s| s.started >= back.started) {
        assert_eq!(
            s.mode,
            Mode::Online,
            "lane {lane}: {} after coming back",
            s.scan_id
        );
    }
    back_after
}

/// Until it came back online after the restart (while each device counted
/// alone), no lane let one limited pass in more often than its `max_uses`:
/// a device counts its own online and offline grants on top of its snapshot.
fn check_devices_count_their_own(passes: &[PassView], board: &Board, restarting: Instant) {
    for (lane, log) in board.iter().enumerate() {
        let back = log
            .shown
            .iter()
            .find(|s| s.mode == Mode::Online && s.at > restarting)
            .expect("back online")
            .started;
        let mut grants: HashMap<usize, u32> = HashMap::new();
        for s in log.shown.iter().filter(|s| s.granted() && s.started < back) {
            *grants.entry(s.token).or_default() += 1;
        }
        for (token, n) in grants {
            if let Some(max) = passes[token].max_uses {
                assert!(
                    n <= max,
                    "lane {lane} let pass {token} in {n} times (max {max})"
                );
            }
        }
    }
}

/// The run's figures, and each lost answer (see `records::LostAnswer`).
fn report(counted: &Accounted) {
    for l in &counted.lost {
        let when = if l.asked_before_kill {
            "before"
        } else {
            "after"
        };
        eprintln!(
            "lost answer: {} shown denied offline, recorded granted online (asked {when} the kill)",
            l.scan_id
        );
    }
    eprintln!(
        "{} decisions shown, {} offline grants, {} uploaded, {} recorded, {} over_limit conflicts, \
         {} lost answers",
        counted.shown,
        counted.offline_grants,
        counted.uploaded,
        counted.recorded,
        counted.over_limit,
        counted.lost.len()
    );
}

/// The lost answer, made on purpose: a single-use ticket used at another
/// door, then scanned on a lane whose replies a relay loses. The gateway
/// decides the scan `used_up` and records it; the lane, hearing nothing
/// within its deadline, grants it offline from its older snapshot. Two
/// people went in on a single-use ticket: the pass counts 2 uses and flags
/// the second `over_limit`, recorded under `ScanId::offline` of the lane's
/// scan id beside the denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_grant_after_a_lost_online_denial_is_counted_and_flagged() {
    let devices = tempdir();
    let data = tempdir();
    let gw = Gateway::start(data.path(), &[]);
    let pass = gw.issue_one(1).await;
    let relay = Relay::start(gw.quic).await;
    let mut lane = open_lane_via(&gw, relay.addr, devices.path(), 0, 1).await;
    let door = gw.scanner("main-door").await;
    let first = common::scan(&door, &pass.token, "door", None).await;
    assert!(first.decision.is_granted(), "the first person is let in");

    relay.lose_replies(true);
    let input = scangate_client::ScanInput {
        token: pass.token.clone(),
        gate: "gate-0".into(),
        event: None,
        scan_id: None,
    };
    let decided = lane.scan(input, scangate_gateway::now_ms()).await;
    relay.lose_replies(false);
    let decided = decided.expect("decided");
    assert_eq!(decided.mode, Mode::Offline, "no answer within the deadline");
    assert!(
        decided.reply.decision.is_granted(),
        "the snapshot predates the first use"
    );
    let id = decided.reply.scan_id.to_string();
    let deadline = Instant::now() + PHASE_DEADLINE;
    while !gw
        .scans(&pass.id)
        .await
        .iter()
        .any(|s| s["scan_id"] == id.as_str())
    {
        assert!(Instant::now() < deadline, "the gateway never recorded {id}");
        tokio::time::sleep(RECORD_POLL).await;
    }
    let report = lane.sync(scangate_gateway::now_ms()).await.expect("sync");
    assert_eq!((report.uploaded, report.pending), (1, 0));

    let record = gw.scans(&pass.id).await;
    eprintln!("records: {record:#?}");
    assert_eq!(gw.pass(&pass.id).await.uses, 2, "two people went in");
    let page = gw.get("/v1/conflicts?kind=over_limit").await;
    let flagged: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["scan_id"].as_str())
        .collect();
    let moved = scangate_core::ScanId::new(id.as_str())
        .expect("scan id")
        .offline();
    assert_eq!(flagged, [moved.as_str()], "the second entry is flagged");
    assert!(
        record
            .iter()
            .any(|s| s["scan_id"] == id.as_str() && s["decision"] != "granted"),
        "the online denial stays on record"
    );
    lane.close().await;
}
