//! When a scanner decides online and when offline: a small state machine,
//! without I/O and without a clock (`now` is passed in).
//!
//! The caller asks [`ModeTracker::try_online`] before each scan. While
//! online the answer is always yes; while offline it is yes at most once
//! per [`ModeConfig::probe_interval_ms`] (that scan, or a background ping,
//! is the probe), so an offline gate does not pay a connect timeout on every
//! scan. Every online try's outcome goes back through
//! [`ModeTracker::record`]:
//!
//! - online → offline after [`ModeConfig::failures_to_offline`] failures in
//!   a row, or when [`ModeConfig::slow_to_offline`] of the last
//!   [`ModeConfig::slow_window`] answers took longer than
//!   [`ModeConfig::slow_answer_ms`];
//! - offline → online as soon as the gateway answers within
//!   `slow_answer_ms` (a slow answer keeps the gate offline: going back
//!   online to a gateway that is still slow would only flap).

use crate::ClientError;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Default [`ModeConfig::failures_to_offline`]: one failure is often a lost
/// handshake or a gateway restart the SDK's own retry rides out; three
/// people in a row kept waiting is an outage as a guard sees it.
pub const DEFAULT_FAILURES_TO_OFFLINE: u32 = 3;
/// Default [`ModeConfig::slow_answer_ms`]: a gateway on a venue LAN answers
/// in milliseconds; a second per scan is long enough to slow a lane (about
/// one person every two seconds) noticeably.
pub const DEFAULT_SLOW_ANSWER_MS: u64 = 1_000;
/// Default [`ModeConfig::slow_window`]: the last ten answers, a few seconds
/// of one lane, long enough that one hiccup does not count as slowness.
pub const DEFAULT_SLOW_WINDOW: u32 = 10;
/// Default [`ModeConfig::slow_to_offline`]: half of the window slow means
/// the gateway is slow, not one unlucky scan.
pub const DEFAULT_SLOW_TO_OFFLINE: u32 = 5;
/// Default [`ModeConfig::probe_interval_ms`]: an offline gate notices a
/// gateway back within five seconds, and at most one scan in that time pays
/// an online try that may run into its timeout.
pub const DEFAULT_PROBE_INTERVAL_MS: u64 = 5_000;

/// Largest [`ModeConfig::slow_window`]: the window is kept in memory, one
/// entry per answer.
pub const SLOW_WINDOW_MAX: u32 = 1_000;
/// Largest [`ModeConfig::failures_to_offline`]: more would leave a gate
/// closed for minutes before it decides alone.
pub const FAILURES_TO_OFFLINE_MAX: u32 = 100;
/// Largest [`ModeConfig::slow_answer_ms`] and
/// [`ModeConfig::probe_interval_ms`], in milliseconds (10 minutes).
pub const MODE_INTERVAL_MAX_MS: u64 = 600_000;

/// Whether scans go to the gateway or are decided on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Scans go to the gateway.
    Online,
    /// Scans are decided on the device; the gateway is probed now and then.
    Offline,
}

/// The outcome of one online try (one [`crate::Scanner::scan`] or ping,
/// retries included), as far as the gateway's health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The gateway answered (a grant, a denial or an error it chose to
    /// send), after `latency`.
    Answered {
        /// From the request to its answer.
        latency: Duration,
    },
    /// No connection could be made (no handshake, refused, unreachable).
    Refused,
    /// A connection was there, but no answer came in time.
    TimedOut,
    /// The connection died while the request was outstanding, or the
    /// gateway broke the protocol.
    ConnectionLost,
    /// The gateway answered that it cannot decide now (`unavailable`,
    /// `shutting_down`).
    Unavailable,
}

impl Attempt {
    /// Classifies an SDK error; `None` for errors that say nothing about
    /// the gateway (a bad config, a token too long to send, a closed
    /// scanner, no entropy).
    pub fn from_error(error: &ClientError) -> Option<Attempt> {
        Some(match error {
            ClientError::Connect { .. } | ClientError::AllGatewaysFailed { .. } => Attempt::Refused,
            // All in-flight slots busy for a whole timeout: the gateway is not answering.
            ClientError::Timeout { .. }
            | ClientError::Saturated { .. }
            | ClientError::DownloadTimeout { .. } => Attempt::TimedOut,
            ClientError::ConnectionLost | ClientError::Protocol(_) => Attempt::ConnectionLost,
            ClientError::Rejected(e) if crate::error::is_retryable_code(e) => Attempt::Unavailable,
            // Any other rejection is an answer (the gateway is there), and
            // the remaining errors are the scanner's own.
            _ => return None,
        })
    }
}

/// The thresholds of a [`ModeTracker`]; [`ModeConfig::default`] holds the
/// documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeConfig {
    /// Failed online tries in a row that switch to offline (default
    /// [`DEFAULT_FAILURES_TO_OFFLINE`]).
    pub failures_to_offline: u32,
    /// An answer slower than this, in milliseconds, counts as slow (default
    /// [`DEFAULT_SLOW_ANSWER_MS`]); a probe must answer faster to go back online.
    pub slow_answer_ms: u64,
    /// How many of the latest answers are looked at for slowness (default
    /// [`DEFAULT_SLOW_WINDOW`]).
    pub slow_window: u32,
    /// Slow answers among the last `slow_window` that switch to offline
    /// (default [`DEFAULT_SLOW_TO_OFFLINE`]).
    pub slow_to_offline: u32,
    /// While offline, the least time between two online tries, in
    /// milliseconds (default [`DEFAULT_PROBE_INTERVAL_MS`]).
    pub probe_interval_ms: u64,
}

impl Default for ModeConfig {
    fn default() -> Self {
        ModeConfig {
            failures_to_offline: DEFAULT_FAILURES_TO_OFFLINE,
            slow_answer_ms: DEFAULT_SLOW_ANSWER_MS,
            slow_window: DEFAULT_SLOW_WINDOW,
            slow_to_offline: DEFAULT_SLOW_TO_OFFLINE,
            probe_interval_ms: DEFAULT_PROBE_INTERVAL_MS,
        }
    }
}

impl ModeConfig {
    /// Checks the limits; [`ModeTracker::new`] calls this.
    pub fn validate(&self) -> Result<(), ClientError> {
        let bad = |msg: String| Err(ClientError::Config(msg));
        if !(1..=FAILURES_TO_OFFLINE_MAX).contains(&self.failures_to_offline) {
            return bad(format!(
                "failures_to_offline must be 1 to {FAILURES_TO_OFFLINE_MAX}, not {}",
                self.failures_to_offline
            ));
        }
        if !(1..=SLOW_WINDOW_MAX).contains(&self.slow_window) {
            return bad(format!(
                "slow_window must be 1 to {SLOW_WINDOW_MAX}, not {}",
                self.slow_window
            ));
        }
        if !(1..=self.slow_window).contains(&self.slow_to_offline) {
            return bad(format!(
                "slow_to_offline must be 1 to slow_window ({}), not {}",
                self.slow_window, self.slow_to_offline
            ));
        }
        for (name, ms) in [
            ("slow_answer_ms", self.slow_answer_ms),
            ("probe_interval_ms", self.probe_interval_ms),
        ] {
            if !(1..=MODE_INTERVAL_MAX_MS).contains(&ms) {
                return bad(format!(
                    "{name} must be 1 to {MODE_INTERVAL_MAX_MS}, not {ms}"
                ));
            }
        }
        Ok(())
    }
}

/// Online or offline, from the outcomes of the latest online tries.
#[derive(Debug, Clone)]
pub struct ModeTracker {
    config: ModeConfig,
    mode: Mode,
    /// Failed tries since the last answer.
    failures_in_a_row: u32,
    /// Whether each of the latest answers was slow (at most `slow_window`).
    recent_slow: VecDeque<bool>,
    /// While offline: the earliest moment of the next online try.
    next_probe: Option<Instant>,
}

impl ModeTracker {
    /// A tracker in [`Mode::Online`].
    pub fn new(config: ModeConfig) -> Result<ModeTracker, ClientError> {
        config.validate()?;
        let window = config.slow_window as usize;
        Ok(ModeTracker {
            config,
            mode: Mode::Online,
            failures_in_a_row: 0,
            recent_slow: VecDeque::with_capacity(window),
            next_probe: None,
        })
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The thresholds.
    pub fn config(&self) -> &ModeConfig {
        &self.config
    }

    /// Whether the next scan should try the gateway. Online: always.
    /// Offline: once the probe interval has passed since the last online
    /// try; a `true` claims that probe, so concurrent scans do not all try.
    pub fn try_online(&mut self, now: Instant) -> bool {
        match self.mode {
            Mode::Online => true,
            Mode::Offline => {
                if self.next_probe.is_some_and(|due| now < due) {
                    return false;
                }
                self.next_probe = Some(now + self.probe_interval());
                true
            }
        }
    }

    /// Feeds the outcome of one online try at `now`; returns the mode after it.
    pub fn record(&mut self, attempt: Attempt, now: Instant) -> Mode {
        match (self.mode, attempt) {
            (Mode::Online, Attempt::Answered { latency }) => {
                self.failures_in_a_row = 0;
                if self.push_answer(latency) >= self.config.slow_to_offline as usize {
                    self.go_offline(now);
                }
            }
            (Mode::Online, _) => {
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                if self.failures_in_a_row >= self.config.failures_to_offline {
                    self.go_offline(now);
                }
            }
            (Mode::Offline, Attempt::Answered { latency }) if !self.is_slow(latency) => {
                self.go_online();
            }
            (Mode::Offline, _) => {
                // Still failing or slow: the next probe waits a whole interval
                // from this outcome (a try that ran into its timeout counts
                // from when it ended).
                self.next_probe = Some(now + self.probe_interval());
            }
        }
        self.mode
    }

    fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.config.probe_interval_ms)
    }

    fn is_slow(&self, latency: Duration) -> bool {
        latency > Duration::from_millis(self.config.slow_answer_ms)
    }

    /// Adds an answer to the window; returns how many in it are slow.
    fn push_answer(&mut self, latency: Duration) -> usize {
        if self.recent_slow.len() == self.config.slow_window as usize {
            self.recent_slow.pop_front();
        }
        let slow = self.is_slow(latency);
        self.recent_slow.push_back(slow);
        debug_assert!(self.recent_slow.len() <= self.config.slow_window as usize);
        self.recent_slow.iter().filter(|s| **s).count()
    }

    fn go_offline(&mut self, now: Instant) {
        self.mode = Mode::Offline;
        self.next_probe = Some(now + self.probe_interval());
        self.failures_in_a_row = 0;
        self.recent_slow.clear();
    }

    fn go_online(&mut self) {
        self.mode = Mode::Online;
        self.next_probe = None;
        self.failures_in_a_row = 0;
        self.recent_slow.clear();
    }
}

#[cfg(test)]
#[path = "mode_tests.rs"]
mod tests;
