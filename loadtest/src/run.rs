//! One whole run: target, passes, devices, the open loop, the check, the
//! report. The gateway it spawned is stopped whatever happens.

use crate::admin::Admin;
use crate::checker::{self, Verdict};
use crate::cli::Plan;
use crate::clock::Clock;
use crate::crash_loop::{self, CrashFigures};
use crate::driver::{self, Devices, DriveInput, DriveOutput};
use crate::floor::Belief;
use crate::floor::pick::FloorPicker;
use crate::floor::setup::{FloorPlan, FloorSetup, FloorTarget};
use crate::history::History;
use crate::netfault::figures::NetInputs;
use crate::netfault::{self, NetFaultFigures, NetLog, NetStats, Proxy};
use crate::outage::{self, OfflineFigures, OfflineInputs, OutageLog};
use crate::picker::Picker;
use crate::profile::Schedule;
use crate::report::{Report, RunInfo};
use crate::setup::{self, SetupPlan};
use crate::target::Target;
use crate::{LoadError, devices, observe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs `plan` to the end and returns its report. Progress goes to stderr.
pub async fn run(plan: &Plan) -> Result<Report, LoadError> {
    let target = if plan.spawn {
        let bin = match &plan.scangate_bin {
            Some(bin) => bin.clone(),
            None => crate::target::default_scangate_bin()?,
        };
        Target::spawn(&bin, plan.device.depth).await?
    } else {
        Target::attach(&plan.data_dir)?
    };
    let described = if target.is_spawned() {
        "spawned gateway (--spawn, same cores as the load)".to_owned()
    } else {
        format!("gateway of {}", plan.data_dir.display())
    };
    let result = against(plan, &target, described).await;
    let stopped = target.stop().await;
    let report = result?;
    stopped?;
    Ok(report)
}

/// The run against a target that is up: passes, the open loop, the check.
async fn against(plan: &Plan, target: &Target, described: String) -> Result<Report, LoadError> {
    let clock = Clock::start();
    let run_id = run_id()?;
    let admin = Admin::new(target.http, target.admin_token.clone())?;
    eprintln!("scangate-load {run_id}: setting up passes on the {described}");
    let (pools, floor) = prepare(plan, target, &admin, &clock).await?;
    let pools = Arc::new(pools);
    eprintln!(
        "scangate-load {run_id}: {} passes ready; connecting {} devices",
        pools.passes.len(),
        plan.devices
    );
    let sent = send(
        plan,
        target,
        (&pools, floor.as_ref()),
        &admin,
        &run_id,
        clock,
    )
    .await?;
    let (out, peak) = (sent.out, sent.peak);
    let offline = plan.outage.map(|outage| {
        OfflineFigures::new(&OfflineInputs {
            outage,
            log: &sent.outage,
            begin: sent.begin,
            ops: &out.ops,
            uploads: &out.offline.uploads,
            first_offline: &out.offline.first_offline,
            drained: out.offline.drained,
            sync_errors: out.offline.sync_errors,
        })
    });
    let mut revokes = pools.revokes.clone();
    revokes.extend(out.revokes);
    let history = History {
        run_id: run_id.clone(),
        passes: pools.passes.iter().map(|p| p.id.clone()).collect(),
        ops: out.ops,
        revokes,
        uploads: out.offline.uploads,
        floor: floor.as_ref().map(FloorSetup::history),
    };
    let verdict = if plan.check {
        eprintln!("scangate-load {run_id}: reading back the touched passes for the check");
        Some(check(&admin, &history, (&pools, floor.as_ref()), clock).await)
    } else {
        None
    };
    let info = RunInfo {
        run_id,
        target: described,
        profile: plan.shape.name().to_owned(),
        window_s: plan.window.as_secs_f64(),
        devices: plan.devices,
        gates: plan.gates,
        depth: plan.device.depth,
        mix: plan.mix.spec(),
        passes: pools.passes.len(),
        peak_offered_per_s: peak,
    };
    let mut report = Report::new(info, &out.recorder, verdict);
    report.offline = offline;
    report.crash_loop = sent.crash;
    report.floor = floor.map(|f| f.report(pools.floor.len()));
    add_net_fault(&mut report, plan, (&sent.net, sent.begin), &history, clock);
    Ok(report)
}

/// With `--net-fault`: what the faults did and whether the scanners came
/// through them; a run whose figures did not hold fails.
fn add_net_fault(
    report: &mut Report,
    plan: &Plan,
    (net, begin): (&Option<(NetLog, NetStats)>, Instant),
    history: &History,
    clock: Clock,
) {
    let (Some(nf), Some((log, stats))) = (&plan.net_fault, net) else {
        return;
    };
    let figures = NetFaultFigures::new(&NetInputs {
        spec: &nf.spec,
        stats: stats.clone(),
        log,
        asked: (nf.partition.is_some(), nf.roam_every.is_some()),
        ops: &history.ops,
        begin,
        clock,
        attempt: Duration::from_millis(plan.device.timeout_ms),
        devices: plan.devices,
    });
    if !figures.held && report.verdict == "pass" {
        report.verdict = "fail".into();
    }
    report.net_fault = Some(figures);
}

/// The passes of the run: issued through the admin API, or from the file;
/// for a floor run, the floor's definition and zoned passes.
async fn prepare(
    plan: &Plan,
    target: &Target,
    admin: &Admin,
    clock: &Clock,
) -> Result<(setup::Pools, Option<FloorSetup>), LoadError> {
    if let Some(capacity) = plan.floor {
        let t = FloorTarget {
            admin,
            data_dir: &target.data_dir,
            quic: target.quic,
            device: &plan.device,
        };
        let floor_plan = FloorPlan {
            event: plan.event.clone(),
            total: plan.total,
            gates: plan.gates,
            capacity,
            uses_per_pass: plan.uses_per_pass,
        };
        let (pools, floor) = crate::floor::setup::prepare(&t, &floor_plan).await?;
        return Ok((pools, Some(floor)));
    }
    // A crash loop scans a small pool again and again (the picker wraps
    // around it): limits are hit across crashes, and the store a restart
    // replays stays small.
    let total = match plan.crash_cycles {
        Some(_) => plan.total.min(crash_loop::SETUP_SCANS_MAX),
        None => plan.total,
    };
    let setup_plan = SetupPlan {
        event: plan.event.clone(),
        total,
        mix: plan.mix.clone(),
        uses_per_pass: plan.uses_per_pass,
    };
    let pools = setup::prepare(
        admin,
        &setup_plan,
        plan.passes_file.as_deref(),
        plan.passes_as_printed,
        &target.data_dir,
        clock,
    )
    .await?;
    Ok((pools, None))
}

/// What [`send`] did.
struct Sent {
    out: DriveOutput,
    /// The schedule's peak rate, scans/s.
    peak: f64,
    /// When the schedule started.
    begin: Instant,
    /// What the outage did (nothing without one).
    outage: OutageLog,
    /// What the crash loop did, if one ran.
    crash: Option<CrashFigures>,
    /// What the timed network faults and the proxy did, with `--net-fault`.
    net: Option<(NetLog, NetStats)>,
}

/// Connects the devices (offline-capable ones, their snapshots fetched,
/// for a run with an outage), sends the schedule open loop, carries out
/// the outage beside it, and closes them.
async fn send(
    plan: &Plan,
    target: &Target,
    (pools, floor): (&Arc<setup::Pools>, Option<&FloorSetup>),
    admin: &Admin,
    run_id: &str,
    clock: Clock,
) -> Result<Sent, LoadError> {
    // The offline devices' state (snapshot, queue) lives as long as the run.
    let state = tempfile::Builder::new()
        .prefix("scangate-load-devices-")
        .tempdir()
        .map_err(|e| LoadError::File(format!("cannot create the devices' state dir: {e}")))?;
    let proxy = fault_proxy(plan, target).await?;
    let quic = proxy.as_ref().map_or(target.quic, Proxy::addr);
    let devices = open_devices(plan, quic, &target.data_dir, state.path(), clock).await?;
    let schedule = Schedule::new(plan.shape.clone(), plan.window, plan.total);
    let peak = schedule.peak_per_s();
    eprintln!(
        "scangate-load {run_id}: sending {} scans over {:.1} s ({} profile, peak {peak:.0}/s)",
        plan.total,
        plan.window.as_secs_f64(),
        plan.shape.name()
    );
    let attempt = Duration::from_millis(plan.device.timeout_ms);
    let begin = Instant::now();
    let (outage_over, stop_feed) = (CancellationToken::new(), CancellationToken::new());
    let mut picker = Picker::new(pools.clone(), plan.mix.clone(), plan.seed);
    let belief = floor.map(|_| Arc::new(Belief::new(pools.passes.len())));
    if let (Some(f), Some(b)) = (floor, &belief) {
        let floor_picker = FloorPicker::new(f.layout.clone(), b.clone(), pools.floor.clone());
        picker = picker.with_floor(floor_picker);
    }
    let input = DriveInput {
        schedule,
        window: plan.window,
        picker,
        pools: pools.clone(),
        admin: admin.clone(),
        run_id: run_id.to_owned(),
        scan_deadline: attempt * plan.device.attempts,
        sdk_retries: plan.device.attempts > 1,
        begin,
        outage_over: outage_over.clone(),
        stop_feed: stop_feed.clone(),
        gates: plan.gates,
        belief,
    };
    let drive = driver::drive(input, devices, clock);
    let tokens = (outage_over, stop_feed);
    let Beside {
        out,
        outage,
        crash,
        net,
    } = beside(plan, (target, proxy.as_ref()), drive, begin, tokens).await;
    let net = net.zip(proxy.map(|p| p.stats()));
    say_unfinished(run_id, &out);
    Ok(Sent {
        out,
        peak,
        begin,
        outage,
        crash,
        net,
    })
}

/// With `--net-fault` the scanners reach the gateway through the fault
/// proxy, started here.
async fn fault_proxy(plan: &Plan, target: &Target) -> Result<Option<Proxy>, LoadError> {
    let Some(nf) = &plan.net_fault else {
        return Ok(None);
    };
    Proxy::start(target.quic, nf.faults, plan.seed)
        .await
        .map(Some)
        .map_err(|e| LoadError::Invalid(format!("cannot start the fault proxy: {e}")))
}

/// Says on stderr what the run left unfinished: scans abandoned after the
/// drain, offline grants still queued.
fn say_unfinished(run_id: &str, out: &DriveOutput) {
    if out.abandoned > 0 {
        eprintln!(
            "scangate-load {run_id}: {} scans still unanswered after the drain were abandoned (recorded as info)",
            out.abandoned
        );
    }
    if out.offline.pending > 0 {
        eprintln!(
            "scangate-load {run_id}: {} offline grants were still queued after {:?} of syncing",
            out.offline.pending,
            driver::SYNC_DEADLINE
        );
    }
}

/// What ran beside the open loop, and the open loop's output.
struct Beside {
    out: DriveOutput,
    outage: OutageLog,
    crash: Option<CrashFigures>,
    net: Option<NetLog>,
}

/// Runs the open loop with the run's outage, crash loop or timed network
/// faults beside it (and tells the lanes at once when there is no outage
/// to wait for).
async fn beside(
    plan: &Plan,
    (target, proxy): (&Target, Option<&Proxy>),
    drive: impl std::future::Future<Output = DriveOutput>,
    begin: Instant,
    (outage_over, stop_feed): (CancellationToken, CancellationToken),
) -> Beside {
    let done = |out, outage, crash, net| Beside {
        out,
        outage,
        crash,
        net,
    };
    match (
        plan.outage,
        plan.crash_cycles,
        plan.net_fault.as_ref().zip(proxy),
    ) {
        (Some(o), _, _) => {
            let (out, log) = tokio::join!(drive, outage::outage(target, o, begin, outage_over));
            done(out, log, None, None)
        }
        (None, Some(cycles), _) => {
            outage_over.cancel();
            let crashes = crash_loop::crash_loop(target, cycles, plan.seed, stop_feed);
            let (out, figures) = tokio::join!(drive, crashes);
            done(out, OutageLog::default(), Some(figures), None)
        }
        (None, None, Some((nf, proxy))) => {
            outage_over.cancel();
            let faults = netfault::carry_out(proxy, nf, begin, stop_feed);
            let (out, log) = tokio::join!(drive, faults);
            done(out, OutageLog::default(), None, Some(log))
        }
        (None, None, None) => {
            outage_over.cancel();
            done(drive.await, OutageLog::default(), None, None)
        }
    }
}

/// The run's scanners: online ones, or (with an outage) offline-capable
/// ones with their state in `state` and their snapshots fetched.
async fn open_devices(
    plan: &Plan,
    quic: std::net::SocketAddr,
    data_dir: &std::path::Path,
    state: &std::path::Path,
    clock: Clock,
) -> Result<Devices, LoadError> {
    Ok(match plan.outage {
        None => Devices::Online(
            devices::connect_all(data_dir, quic, plan.devices, plan.gates, &plan.device).await?,
        ),
        Some(_) => Devices::Offline(
            devices::open_offline(
                data_dir,
                quic,
                (plan.devices, plan.gates),
                &plan.device,
                &plan.event,
                state,
                clock,
            )
            .await?,
        ),
    })
}

async fn check(
    admin: &Admin,
    history: &History,
    (pools, floor): (&Arc<setup::Pools>, Option<&FloorSetup>),
    clock: Clock,
) -> Verdict {
    let (observed, mut errors) = observe::read_back(admin, history, pools, clock).await;
    let mut notes = Vec::new();
    let seen = match floor {
        Some(f) => match crate::floor::observe::read_back(admin, f, history, pools, clock).await {
            Ok(seen) => {
                notes = f.notes.clone();
                Some(seen)
            }
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        },
        None => None,
    };
    let mut verdict = checker::check_all(history, &observed, seen.as_ref());
    verdict.notes.extend(notes);
    verdict
        .notes
        .extend(errors.into_iter().map(|e| format!("read-back failed: {e}")));
    verdict
}

/// A fresh run id: `L` and 8 random hex digits (a valid scan-id prefix).
fn run_id() -> Result<String, LoadError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes)
        .map_err(|e| LoadError::Invalid(format!("no randomness for a run id: {e}")))?;
    Ok(format!("L{:08x}", u32::from_be_bytes(bytes)))
}
