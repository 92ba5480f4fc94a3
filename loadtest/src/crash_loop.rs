//! The crash loop (`--spawn --crash-loop N`, issue 28): while the load
//! runs, the spawned gateway is killed with SIGKILL at a random moment and
//! started again on the same data dir and ports, N times; the checker then
//! judges the whole history against what the last gateway holds.
//!
//! One cycle: the gateway is up for a random time in
//! [[`UPTIME_MIN`], [`UPTIME_MAX`]] after it is ready, is killed, and is
//! started again until ready. One cycle in [`STARTUP_KILL_SHARE`] kills the
//! new process once more during start-up (store open, redo-log replay)
//! before the restart that counts; one in [`DOUBLE_KILL_SHARE`] kills it
//! again just after it is ready (two crashes in quick succession). Each
//! restart-to-ready time is measured.

use crate::LoadError;
use crate::target::Target;
use fastrand::Rng;
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Least time the gateway is up in a cycle: a crash right after ready.
pub const UPTIME_MIN: Duration = Duration::from_millis(100);
/// Most time the gateway is up in a cycle: long enough for grants to be
/// acknowledged, retried and counted between two crashes, short enough for
/// a thousand cycles in well under an hour.
pub const UPTIME_MAX: Duration = Duration::from_millis(1_500);
/// Share of cycles that also kill the restarted process during start-up.
pub const STARTUP_KILL_SHARE: f64 = 0.1;
/// Longest wait after a start before the start-up kill: start-up and
/// replay take a few hundred milliseconds, so the kill lands inside them
/// or at worst just after.
pub const STARTUP_KILL_MAX: Duration = Duration::from_millis(300);
/// Share of cycles killed a second time just after the restart is ready.
pub const DOUBLE_KILL_SHARE: f64 = 0.1;
/// Longest wait after ready before that second kill.
pub const DOUBLE_KILL_MAX: Duration = Duration::from_millis(50);
/// The passes of a crash loop are set up for at most this many scans
/// (about 2,500 valid passes at `max_uses = 2` and half first scans),
/// whatever the schedule's length: the picker goes round them again, so
/// limits are reached across crashes, and a restart's replay of the issued
/// passes stays short (89,000 passes took a debug gateway 18 to 50 s to
/// reopen on a busy machine).
pub const SETUP_SCANS_MAX: u64 = 10_000;
/// A progress line on stderr every this many cycles.
const PROGRESS_EVERY: u32 = 100;
/// Most cycles one run does: a cycle takes 1 to 10 s (uptime, restart,
/// extra kills; the restart is slower on a busy machine), and the load
/// runs at most the tool's hour ([`crate::profile::DURATION_MAX_S`]).
pub const CYCLES_MAX: u32 = 1_000;

/// What the crash loop did (the report's `crash_loop`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrashFigures {
    /// Cycles asked for.
    pub cycles_planned: u32,
    /// Cycles done (a kill and a restart to ready each).
    pub cycles: u32,
    /// SIGKILLs sent in all.
    pub kills: u32,
    /// Of which during a start-up (before ready).
    pub kills_in_startup: u32,
    /// Of which just after a restart was ready.
    pub double_kills: u32,
    /// Restart-to-ready, median, seconds.
    pub restart_p50_s: f64,
    /// 99th percentile, seconds.
    pub restart_p99_s: f64,
    /// Largest, seconds.
    pub restart_max_s: f64,
    /// Every restart-to-ready, in the order they happened, milliseconds
    /// (at most two per cycle: [`CYCLES_MAX`] bounds it): shows whether
    /// restarts slow down as the run goes on.
    pub restarts_ms: Vec<u64>,
    /// Why the loop stopped early, if it did.
    pub error: Option<String>,
}

impl CrashFigures {
    /// The figures of a loop that did `restarts` (restart-to-ready times).
    fn finish(mut self, mut restarts: Vec<Duration>) -> CrashFigures {
        self.restarts_ms = restarts
            .iter()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .collect();
        restarts.sort_unstable();
        let at = |q: f64| {
            let last = restarts.len().saturating_sub(1);
            restarts
                .get(((last as f64) * q).round() as usize)
                .map_or(0.0, Duration::as_secs_f64)
        };
        self.restart_p50_s = at(0.5);
        self.restart_p99_s = at(0.99);
        self.restart_max_s = at(1.0);
        self
    }
}

/// Runs `cycles` crash cycles on `target` (the random moments from
/// `seed`), then cancels `done` (ending the schedule), whatever happened;
/// stops early when `done` is cancelled first (the schedule ran out).
pub async fn crash_loop(
    target: &Target,
    cycles: u32,
    seed: u64,
    done: CancellationToken,
) -> CrashFigures {
    let mut figures = CrashFigures {
        cycles_planned: cycles,
        ..CrashFigures::default()
    };
    let mut restarts = Vec::with_capacity(cycles as usize);
    let mut rng = Rng::with_seed(seed);
    let interrupted = interrupted_by_sigint();
    for _ in 0..cycles {
        if done.is_cancelled() {
            figures.error = Some("the load's hour ended before the cycles did".into());
            break;
        }
        if interrupted.is_cancelled() {
            figures.error = Some(format!(
                "stopped by SIGINT after {} cycles (the history so far is checked)",
                figures.cycles
            ));
            break;
        }
        if let Err(e) = cycle(target, &mut rng, &mut figures, &mut restarts).await {
            tracing::warn!(error = %e, "a crash cycle failed");
            figures.error = Some(e.to_string());
            recover(target).await;
            break;
        }
        figures.cycles += 1;
        if figures.cycles.is_multiple_of(PROGRESS_EVERY) {
            eprintln!(
                "scangate-load: crash loop: {}/{cycles} cycles, {} kills",
                figures.cycles, figures.kills
            );
        }
    }
    done.cancel();
    figures.finish(restarts)
}

/// Cancelled on SIGINT (Ctrl-C): the loop then ends after the cycle under
/// way, and the run checks the history so far and reports, so a long run
/// can be cut short without losing it.
fn interrupted_by_sigint() -> CancellationToken {
    let interrupted = CancellationToken::new();
    let cancel = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("scangate-load: crash loop: SIGINT, stopping after this cycle");
            cancel.cancel();
        }
    });
    interrupted
}

/// A random duration from `min` to `max`.
fn between(rng: &mut Rng, min: Duration, max: Duration) -> Duration {
    min + (max.saturating_sub(min)).mul_f64(rng.f64())
}

/// One cycle: up for a while, killed, (maybe killed again in start-up),
/// restarted to ready, (maybe killed again at once and restarted).
async fn cycle(
    target: &Target,
    rng: &mut Rng,
    f: &mut CrashFigures,
    restarts: &mut Vec<Duration>,
) -> Result<(), LoadError> {
    tokio::time::sleep(between(rng, UPTIME_MIN, UPTIME_MAX)).await;
    target.crash().await?;
    f.kills += 1;
    let roll = rng.f64();
    if roll < STARTUP_KILL_SHARE {
        target.start_again().await?;
        tokio::time::sleep(between(rng, Duration::ZERO, STARTUP_KILL_MAX)).await;
        target.crash().await?;
        (f.kills, f.kills_in_startup) = (f.kills + 1, f.kills_in_startup + 1);
    }
    restarts.push(restart(target).await?);
    if (STARTUP_KILL_SHARE..STARTUP_KILL_SHARE + DOUBLE_KILL_SHARE).contains(&roll) {
        tokio::time::sleep(between(rng, Duration::ZERO, DOUBLE_KILL_MAX)).await;
        target.crash().await?;
        (f.kills, f.double_kills) = (f.kills + 1, f.double_kills + 1);
        restarts.push(restart(target).await?);
    }
    Ok(())
}

/// After a failed cycle: one more chance for the gateway to be ready (the
/// one starting, or a fresh start), so the history can still be checked.
async fn recover(target: &Target) {
    if target.until_ready().await.is_ok() {
        return;
    }
    let again = async {
        target.crash().await?;
        target.start_again().await?;
        target.until_ready().await
    };
    if let Err(e) = again.await {
        tracing::warn!(error = %e, "the gateway could not be brought back after a failed cycle");
    }
}

/// Starts the gateway again and returns its restart-to-ready time. A start
/// that lost its port to another process in the moment between the check
/// and the gateway's bind is tried again (waiting for the port each time),
/// [`crate::target::SPAWN_PORT_TRIES`] times in all.
async fn restart(target: &Target) -> Result<Duration, LoadError> {
    let started = Instant::now();
    let mut tries = 1;
    loop {
        target.start_again().await?;
        match target.until_ready().await {
            Ok(()) => return Ok(started.elapsed()),
            Err(LoadError::PortTaken { addr, reason })
                if tries < crate::target::SPAWN_PORT_TRIES =>
            {
                tracing::warn!(%addr, %reason, "the gateway's port was taken at a restart; waiting for it");
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_percentiles_come_from_the_sorted_times() {
        let ms = Duration::from_millis;
        let f = CrashFigures::default().finish(vec![ms(900), ms(100), ms(500)]);
        assert_eq!((f.restart_p50_s, f.restart_max_s), (0.5, 0.9));
        assert_eq!(f.restart_p99_s, 0.9);
        assert_eq!(f.restarts_ms, [900, 100, 500], "in the order they happened");
        let none = CrashFigures::default().finish(Vec::new());
        assert_eq!(none.restart_max_s, 0.0);
    }
}
