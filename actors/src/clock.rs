//! Where this crate's decisions get their time.
//!
//! Every time a decision depends on (validity windows, the annul window, how
//! old a shared pass's copy is) is read from the registry's [`Clock`] and
//! handed to [`scangate_core::protocol`], which never reads one. The gateway
//! uses [`SystemClock`]; a test sets its own clock and drives those rules
//! without sleeping. (Idle stops and deadlines run on tokio's monotonic
//! time, which tests pause and advance.)

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time for decisions.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// Milliseconds since the Unix epoch, UTC, from the system clock.
///
/// A clock set before 1970 reads as 0 rather than failing a scan.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
