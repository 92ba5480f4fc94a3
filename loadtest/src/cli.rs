//! The command line (`clap`) and its validation into a [`Plan`]: every bad
//! argument is refused with one sentence naming it.

use crate::LoadError;
use crate::crash_loop::CYCLES_MAX;
use crate::devices::{DEVICES_MAX, DeviceSettings};
use crate::floor::FLOOR_GATES_MIN;
use crate::floor::setup::FloorCapacity;
use crate::mix::{MIX_DEFAULT, MIX_FLOOR_DEFAULT, MIX_OUTAGE_DEFAULT, Mix, ScanKind};
use crate::outage::{Outage, OutageKind};
use crate::profile::{self, Bursts, DURATION_MAX_S, SCANS_MAX, Shape};
use clap::{Parser, ValueEnum};
use scangate_client::config::{ATTEMPTS_MAX, MAX_IN_FLIGHT_LIMIT};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default simulated scanner devices.
pub const DEVICES_DEFAULT: usize = 16;
/// Default scans in flight per device.
pub const DEPTH_DEFAULT: usize = 32;
/// Default deadline of one scan attempt, ms (the SDK's default).
pub const TIMEOUT_MS_DEFAULT: u64 = 2_000;
/// Longest deadline of one scan attempt, ms.
pub const TIMEOUT_MS_MAX: u64 = 60_000;
/// Highest offered rate accepted, scans/s (far above what loopback carries).
pub const RATE_MAX: f64 = 2_000_000.0;
/// Most gates.
pub const GATES_MAX: u32 = 1_000;
/// Largest burst multiplier.
pub const BURST_FACTOR_MAX: f64 = 100.0;
/// Default event of the passes the tool issues.
pub const EVENT_DEFAULT: &str = "scangate-load";
/// Default event of a floor run (`--floor`): its own, since the tool sets
/// the event's definition (an event with one knows only its gates).
pub const FLOOR_EVENT_DEFAULT: &str = "scangate-load-floor";
/// Default seed of the picks (runs are repeatable).
pub const SEED_DEFAULT: u64 = 0x5CA9_6A7E;

/// `constant` or `gate-opening`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// `--rate` scans/s for `--duration` seconds.
    Constant,
    /// `--attendees` over `--minutes`: ramp up, peak, ramp down, with bursts.
    GateOpening,
}

/// scangate-load: open-loop, bursty load against a scangate gateway on this
/// host, with a Jepsen-style check that no pass was granted beyond its limit.
#[derive(Debug, Clone, Parser)]
#[command(name = "scangate-load", version)]
pub struct Args {
    /// Start a gateway (`scangate serve`, a child process) on a temporary
    /// data dir, on loopback; it shares the cores with the load and is
    /// stopped at the end. Without it, load the gateway of --data-dir.
    #[arg(long)]
    pub spawn: bool,
    /// With --spawn: the `scangate` binary to start (default: the one next
    /// to scangate-load).
    #[arg(long, env = "SCANGATE_BIN")]
    pub scangate_bin: Option<PathBuf>,
    /// Data dir of a running gateway (gateway.json, admin-token, pki/).
    #[arg(long, env = "SCANGATE_DATA_DIR", default_value = "./scangate-data")]
    pub data_dir: PathBuf,
    /// Shape of the offered load.
    #[arg(long, value_enum, default_value = "gate-opening")]
    pub profile: ProfileArg,
    /// constant: scans per second.
    #[arg(long, default_value_t = profile::RATE_DEFAULT)]
    pub rate: f64,
    /// constant: seconds.
    #[arg(long, default_value_t = profile::DURATION_S_DEFAULT)]
    pub duration: f64,
    /// gate-opening: people arriving (each one first scan).
    #[arg(long, default_value_t = profile::ATTENDEES_DEFAULT)]
    pub attendees: u64,
    /// gate-opening: minutes they arrive over (fractions allowed).
    #[arg(long, default_value_t = profile::MINUTES_DEFAULT)]
    pub minutes: f64,
    /// Gates the devices are spread over.
    #[arg(long, default_value_t = profile::GATES_DEFAULT)]
    pub gates: u32,
    /// gate-opening: seconds between bursts.
    #[arg(long, default_value_t = profile::BURST_EVERY_S_DEFAULT)]
    pub burst_every_s: f64,
    /// gate-opening: length of a burst, ms.
    #[arg(long, default_value_t = profile::BURST_MS_DEFAULT)]
    pub burst_ms: u64,
    /// gate-opening: rate multiplier during a burst (1 = no bursts).
    #[arg(long, default_value_t = profile::BURST_FACTOR_DEFAULT)]
    pub burst_factor: f64,
    /// Scanner devices, each with its own certificate and QUIC connection.
    #[arg(long, default_value_t = DEVICES_DEFAULT)]
    pub devices: usize,
    /// Scans in flight per device at most (pipelining depth).
    #[arg(long, default_value_t = DEPTH_DEFAULT)]
    pub depth: usize,
    /// Shares of scan kinds: first, rescan, forged, unknown, revoked,
    /// expired, retry [default: the stadium's mix; with --outage the same
    /// without retries].
    #[arg(long)]
    pub mix: Option<String>,
    /// Grants each valid pass admits (its max_uses).
    #[arg(long, default_value_t = 1)]
    pub uses_per_pass: u32,
    /// Valid passes from a file (JSON lines, as `scangate pass issue --json`
    /// prints) instead of issuing them.
    #[arg(long)]
    pub passes: Option<PathBuf>,
    /// Take the --passes file as printed (status, uses) instead of reading
    /// each pass from the gateway first: a run whose first scans must be
    /// the first reads of their passes (a restarted gateway's cold or
    /// warmed cache). The file must be fresh.
    #[arg(long, requires = "passes")]
    pub passes_as_printed: bool,
    /// Event of the passes the tool issues.
    #[arg(long, default_value = EVENT_DEFAULT)]
    pub event: String,
    /// Deadline of one scan attempt, ms.
    #[arg(long, default_value_t = TIMEOUT_MS_DEFAULT)]
    pub timeout_ms: u64,
    /// Attempts per scan (SDK retries reuse the scan id).
    #[arg(long, default_value_t = 1)]
    pub attempts: u32,
    /// Seed of the picks.
    #[arg(long, default_value_t = SEED_DEFAULT)]
    pub seed: u64,
    /// Skip the correctness check.
    #[arg(long)]
    pub no_check: bool,
    /// Print one JSON object (the last line of stdout).
    #[arg(long)]
    pub json: bool,
    /// Write a latency and throughput chart to this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// With --spawn: stop the gateway AT_S seconds into the schedule for
    /// FOR_S seconds (e.g. `5:10`), then bring it back on the same data dir
    /// and ports. The devices then run as offline-capable scanners: they
    /// decide offline during the outage and upload afterwards.
    #[arg(long, value_name = "AT_S:FOR_S")]
    pub outage: Option<String>,
    /// How --outage stops the gateway: `kill` (SIGKILL, then started
    /// again: a crash) or `pause` (SIGSTOP, then SIGCONT: a network cut).
    #[arg(long, value_enum, default_value = "kill")]
    pub outage_kind: OutageKind,
    /// With --spawn: kill the gateway (SIGKILL) at a random moment and
    /// start it again, N times, while a constant --rate load runs (until
    /// the cycles are done, at most an hour); the checker then
    /// judges the history of every cycle.
    #[arg(long, value_name = "N")]
    pub crash_loop: Option<u32>,
    /// Send the scanners' datagrams through a fault proxy: comma-separated
    /// loss=N%, delay=20ms, jitter=10ms, dup=N%, reorder=N%,
    /// partition=AT_S:FOR_S, roam=EVERY (e.g. `loss=10%,dup=1%`).
    #[arg(long, value_name = "SPEC")]
    pub net_fault: Option<String>,
    /// Instead of scans: N QUIC connection attempts, 256 at once, half
    /// with a device certificate of the gateway's CA, half with another's.
    #[arg(long, value_name = "N")]
    pub connect_flood: Option<u32>,
    /// An event floor: set the event's definition (gates in, out and both
    /// across three nested zones, re-entry, strict anti-passback), issue
    /// passes with zones and send entries and exits [default mix:
    /// entry=45,exit=35,retry=8,wrong_zone=6,check=6; default event:
    /// scangate-load-floor].
    #[arg(long)]
    pub floor: bool,
    /// With --floor: whether zones get capacities; `auto` probes the
    /// gateway and gives them capacities only when it answers `zone_full`.
    #[arg(long, value_enum, default_value = "on")]
    pub floor_capacity: FloorCapacity,
    /// The local IP every scanner of this run sends from (default: the
    /// system's choice, 127.0.0.1 on loopback). The gateway counts
    /// handshakes per source address, so a scanner on an address of its
    /// own (`127.0.0.2`) does not queue behind a flood from another.
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<IpAddr>,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Start a gateway child process (else attach to `data_dir`).
    pub spawn: bool,
    /// With `spawn`: the `scangate` binary (`None`: next to scangate-load).
    pub scangate_bin: Option<PathBuf>,
    /// The running gateway's data dir.
    pub data_dir: PathBuf,
    /// Shape of the load.
    pub shape: Shape,
    /// The schedule's window.
    pub window: Duration,
    /// Scans to send.
    pub total: u64,
    /// Gates.
    pub gates: u32,
    /// Devices.
    pub devices: usize,
    /// How devices connect.
    pub device: DeviceSettings,
    /// The mix.
    pub mix: Mix,
    /// max_uses of the issued valid passes.
    pub uses_per_pass: u32,
    /// Valid passes from this file.
    pub passes_file: Option<PathBuf>,
    /// The file's passes taken as printed, not read from the gateway first.
    pub passes_as_printed: bool,
    /// Event of issued passes.
    pub event: String,
    /// Seed.
    pub seed: u64,
    /// Run the checker.
    pub check: bool,
    /// The gateway's outage, if any (the devices are then offline-capable).
    pub outage: Option<Outage>,
    /// Crash cycles to run, if any.
    pub crash_cycles: Option<u32>,
    /// Faults on the wire between the scanners and the gateway, if any.
    pub net_fault: Option<crate::netfault::NetFault>,
    /// An event floor run: whether its zones get capacities.
    pub floor: Option<FloorCapacity>,
}

fn refuse<T>(msg: String) -> Result<T, LoadError> {
    Err(LoadError::Invalid(msg))
}

fn positive(name: &str, v: f64, max: f64) -> Result<f64, LoadError> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(v)
    } else {
        refuse(format!("{name} must be above 0 and at most {max}, not {v}"))
    }
}

/// `v` if it is from 1 to `max`, else one sentence naming the argument.
fn within<T>(name: &str, v: T, max: T) -> Result<T, LoadError>
where
    T: PartialOrd + From<u8> + std::fmt::Display,
{
    if v >= T::from(1) && v <= max {
        Ok(v)
    } else {
        refuse(format!("{name} must be from 1 to {max}, not {v}"))
    }
}

impl Args {
    /// Checks every argument and computes the plan.
    pub fn plan(&self) -> Result<Plan, LoadError> {
        let default = match (self.floor, &self.outage) {
            (true, _) => MIX_FLOOR_DEFAULT,
            (false, Some(_)) => MIX_OUTAGE_DEFAULT,
            (false, None) => MIX_DEFAULT,
        };
        let mix: Mix = self
            .mix
            .as_deref()
            .unwrap_or(default)
            .parse()
            .map_err(|e: crate::mix::MixError| LoadError::Invalid(e.to_string()))?;
        let (shape, window_s, total) = match (self.crash_loop, self.profile) {
            (Some(cycles), _) => self.crash_schedule(cycles)?,
            (None, ProfileArg::Constant) => self.constant()?,
            (None, ProfileArg::GateOpening) => self.gate_opening(&mix)?,
        };
        if total == 0 {
            return refuse("the run would send no scan; raise --rate or --duration".into());
        }
        if total > SCANS_MAX {
            return refuse(format!(
                "the run would send {total} scans, over the limit of {SCANS_MAX}"
            ));
        }
        self.check_sizes()?;
        self.check_floor(&mix)?;
        let outage = self.outage(window_s, &mix)?;
        let beside = self.outage.is_some() || self.crash_loop.is_some();
        let net_fault = crate::netfault::spec::plan(self.net_fault.as_deref(), window_s, beside)
            .map_err(LoadError::Invalid)?;
        Ok(Plan {
            spawn: self.spawn,
            scangate_bin: self.scangate_bin.clone(),
            data_dir: self.data_dir.clone(),
            shape,
            window: Duration::from_secs_f64(window_s),
            total,
            gates: self.gates,
            devices: self.devices,
            device: DeviceSettings {
                depth: self.depth,
                timeout_ms: self.timeout_ms,
                attempts: self.attempts,
                source_ip: self.source_ip,
            },
            mix,
            uses_per_pass: self.uses_per_pass,
            passes_file: self.passes.clone(),
            passes_as_printed: self.passes_as_printed,
            event: match self.floor && self.event == EVENT_DEFAULT {
                true => FLOOR_EVENT_DEFAULT.to_owned(),
                false => self.event.clone(),
            },
            seed: self.seed,
            check: !self.no_check,
            outage,
            crash_cycles: self.crash_loop,
            net_fault,
            floor: self.floor.then_some(self.floor_capacity),
        })
    }

    /// `--floor` takes the floor's kinds only (and retries), a gate of
    /// each role with a device at every gate, passes it issues, and no
    /// outage or crash loop; the floor's kinds need `--floor`.
    fn check_floor(&self, mix: &Mix) -> Result<(), LoadError> {
        let foreign = mix
            .kinds()
            .find(|k| k.is_floor() != self.floor && *k != ScanKind::Retry);
        match (self.floor, foreign) {
            (true, Some(k)) => {
                return refuse(format!(
                    "--floor sends entry, exit, wrong_zone, check and retry scans; give {k}=0 in --mix"
                ));
            }
            (false, Some(k)) => return refuse(format!("--mix kind {k} needs --floor")),
            (_, None) => {}
        }
        if !self.floor {
            return Ok(());
        }
        if mix.share(ScanKind::Entry) == 0.0 {
            return refuse("--floor needs a positive share of entry scans in --mix".into());
        }
        if self.gates < FLOOR_GATES_MIN || self.devices < self.gates as usize {
            return refuse(format!(
                "--floor needs at least {FLOOR_GATES_MIN} gates and a device at each (--gates {} --devices {})",
                self.gates, self.devices
            ));
        }
        if self.passes.is_some() || self.outage.is_some() || self.crash_loop.is_some() {
            return refuse(
                "--floor issues its own passes and runs online: not with --passes, --outage or --crash-loop".into(),
            );
        }
        Ok(())
    }

    /// `--crash-loop N`: a constant `--rate` for at most the tool's hour
    /// (the cycles end it), with a spawned gateway and no outage beside it.
    fn crash_schedule(&self, cycles: u32) -> Result<(Shape, f64, u64), LoadError> {
        within("--crash-loop", cycles, CYCLES_MAX)?;
        if !self.spawn {
            return refuse(
                "--crash-loop needs --spawn: only a gateway this run started is killed".into(),
            );
        }
        if self.outage.is_some() {
            return refuse("--crash-loop and --outage cannot be combined".into());
        }
        let rate = positive("--rate", self.rate, RATE_MAX)?;
        let secs = DURATION_MAX_S;
        Ok((Shape::Constant, secs, (rate * secs).round() as u64))
    }

    /// `--outage`: only for a spawned gateway, within the window, and
    /// without retries of a scan id on another device (an offline device
    /// cannot know another device's scan ids).
    fn outage(&self, window_s: f64, mix: &Mix) -> Result<Option<Outage>, LoadError> {
        let Some(text) = &self.outage else {
            return Ok(None);
        };
        let outage = Outage {
            kind: self.outage_kind,
            ..text.parse().map_err(LoadError::Invalid)?
        };
        if !self.spawn {
            return refuse(
                "--outage needs --spawn: only a gateway this run started is stopped".into(),
            );
        }
        if outage.at.as_secs_f64() >= window_s {
            return refuse(format!(
                "--outage starts at {} s, after the schedule's {window_s} s",
                outage.at.as_secs_f64()
            ));
        }
        // The devices' final sync waits at most SYNC_DEADLINE after the
        // schedule, the restart included: leave it half of that.
        let slack = crate::driver::SYNC_DEADLINE.as_secs_f64() / 2.0;
        let end = (outage.at + outage.length).as_secs_f64();
        if end > window_s + slack {
            return refuse(format!(
                "--outage ends at {end} s, over {slack} s after the schedule's {window_s} s (the devices sync for at most {} s after it)",
                crate::driver::SYNC_DEADLINE.as_secs()
            ));
        }
        if mix.share(ScanKind::Retry) > 0.0 {
            return refuse(
                "--outage: the retry kind resends a scan id on another device, which an offline device cannot know; give retry=0 in --mix".into(),
            );
        }
        Ok(Some(outage))
    }

    /// `--profile constant`: the shape, its window in seconds and its scans
    /// (`--rate` × `--duration`).
    fn constant(&self) -> Result<(Shape, f64, u64), LoadError> {
        let rate = positive("--rate", self.rate, RATE_MAX)?;
        let secs = positive("--duration", self.duration, DURATION_MAX_S)?;
        Ok((Shape::Constant, secs, (rate * secs).round() as u64))
    }

    /// `--profile gate-opening`: the shape with its bursts, its window in
    /// seconds and its scans (the first scans of `--attendees` in `mix`).
    fn gate_opening(&self, mix: &Mix) -> Result<(Shape, f64, u64), LoadError> {
        let secs = positive("--minutes", self.minutes, DURATION_MAX_S / 60.0)? * 60.0;
        if self.attendees == 0 {
            return refuse("--attendees must be at least 1".into());
        }
        let every = positive("--burst-every-s", self.burst_every_s, DURATION_MAX_S)?;
        let length = self.burst_ms as f64 / 1_000.0;
        if length >= every {
            return refuse(format!(
                "--burst-ms ({}) must be shorter than --burst-every-s ({every})",
                self.burst_ms
            ));
        }
        let factor = self.burst_factor;
        if !(1.0..=BURST_FACTOR_MAX).contains(&factor) {
            return refuse(format!(
                "--burst-factor must be from 1 to {BURST_FACTOR_MAX}, not {factor}"
            ));
        }
        let bursts = Bursts {
            every_s: every,
            length_s: length,
            factor,
        };
        Ok((
            Shape::GateOpening(bursts),
            secs,
            mix.scans_for_first(self.attendees),
        ))
    }

    /// Gates, devices, depth, deadline, attempts, uses and event: each within
    /// its bound.
    fn check_sizes(&self) -> Result<(), LoadError> {
        within("--gates", self.gates, GATES_MAX)?;
        within("--devices", self.devices, DEVICES_MAX)?;
        within("--depth", self.depth, MAX_IN_FLIGHT_LIMIT)?;
        within("--timeout-ms", self.timeout_ms, TIMEOUT_MS_MAX)?;
        within("--attempts", self.attempts, ATTEMPTS_MAX)?;
        if self.uses_per_pass == 0 {
            return refuse("--uses-per-pass must be at least 1".into());
        }
        if self.event.trim().is_empty() {
            return refuse("--event cannot be empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
