//! The scanner's reconnect: at most one per scanner, in a task of its own.
//!
//! When the link is dead, the first scan that needs one starts the
//! reconnect task; every scan that needs a link meanwhile watches the same
//! task's outcome, each up to its own attempt deadline. No scan's deadline
//! cancels the task (a handshake cut short by whichever scan had the least
//! time left never finishes: the storm of issue 28). The task makes one
//! handshake try at a time, each address in turn, each try given
//! `reconnect_try` (at least `RECONNECT_TRY_MIN_MS`), with a pause between
//! failed tries ([`pause`]: doubling from [`RECONNECT_PAUSE_BASE_MS`] to
//! [`RECONNECT_PAUSE_MAX_MS`], jittered), so a path that is down costs a
//! few handshakes a second at most, never a busy loop. It ends when a try
//! connects (the new link becomes the scanner's), when every address in a
//! row refused (the waiting scans get that error), when the scanner is
//! closed, or when no scan waits any more (checked between tries; the next
//! scan that needs a link starts a new task, which first pauses as the
//! failures so far call for).

use super::Scanner;
use crate::ClientError;
use crate::gateways::Tried;
use crate::link::{CLOSE_CODE_DONE, Link};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info};

/// Pause after the first failed handshake try, doubled per failure in a
/// row: a gateway restarting or a path flapping is usually back within a
/// few hundred milliseconds, and a try on a venue LAN costs milliseconds.
const RECONNECT_PAUSE_BASE_MS: u64 = 100;
/// Longest pause between two handshake tries: once the path heals, a
/// scanner tries again within this plus one try, well inside one attempt
/// plus the 2 s the network-fault suite allows for recovery, while a long
/// outage costs one handshake a second or so per scanner.
const RECONNECT_PAUSE_MAX_MS: u64 = 1_000;

/// Where a reconnect task stands; every waiting scan watches it.
pub(super) enum Outcome {
    /// Still trying.
    Pending,
    /// Connected: this link is now the scanner's.
    Connected(Arc<Link>),
    /// Every address in a row refused, or the scanner was closed.
    Failed(Arc<ClientError>),
    /// Stopped because no scan waited any more.
    Abandoned,
}

/// The scanner's reconnect state.
#[derive(Default)]
pub(super) struct Reconnects {
    /// The outcome channel of the task in flight (`Pending`) or of the last one.
    current: Mutex<Option<Arc<watch::Sender<Outcome>>>>,
    /// Failed handshake tries in a row, across tasks; 0 after a success.
    failures: AtomicU32,
}

/// What a scan that needs a link joins.
enum Joined {
    /// A live link (another task connected a moment ago).
    Live(Arc<Link>),
    /// The reconnect in flight, to watch.
    Waiting(watch::Receiver<Outcome>),
}

impl Scanner {
    /// A new link from the scanner's reconnect, joining the one in flight
    /// or starting it. Unbounded here: the caller's attempt deadline bounds
    /// its wait, and leaving does not stop the reconnect.
    pub(super) async fn reconnected(&self) -> Result<Arc<Link>, ClientError> {
        loop {
            let mut outcome = match self.join_reconnect() {
                Joined::Live(link) => return Ok(link),
                Joined::Waiting(outcome) => outcome,
            };
            let ended = outcome.wait_for(|o| !matches!(o, Outcome::Pending)).await;
            match ended.as_deref() {
                Ok(Outcome::Connected(link)) => return Ok(Arc::clone(link)),
                Ok(Outcome::Failed(e)) => return Err(duplicate(e)),
                // It stopped for want of waiters just as this scan joined:
                // the next turn starts a new one (at most once per stop).
                Ok(Outcome::Abandoned | Outcome::Pending) | Err(_) => {}
            }
        }
    }

    fn join_reconnect(&self) -> Joined {
        let mut current = self
            .inner
            .reconnects
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // The task stores its link before it says so: checked under the lock,
        // a link connected a moment ago is used, not replaced.
        if let Some(link) = self.live_link() {
            return Joined::Live(link);
        }
        if let Some(tx) = current.as_ref()
            && matches!(*tx.borrow(), Outcome::Pending)
        {
            return Joined::Waiting(tx.subscribe());
        }
        let (tx, rx) = watch::channel(Outcome::Pending);
        let tx = Arc::new(tx);
        *current = Some(Arc::clone(&tx));
        let scanner = self.clone();
        tokio::spawn(async move {
            let outcome = scanner.reconnect_tries(&tx).await;
            tx.send_replace(outcome);
        });
        Joined::Waiting(rx)
    }

    /// The reconnect task's loop: one handshake try at a time, pausing
    /// after failures, until an end the module docs list.
    async fn reconnect_tries(&self, tx: &watch::Sender<Outcome>) -> Outcome {
        let gateways = &self.inner.gateways;
        let failures = &self.inner.reconnects.failures;
        let mut refused_in_a_row = 0;
        info!(gateways = gateways.len(), "reconnecting to the gateway");
        loop {
            let failed = failures.load(Ordering::Relaxed);
            if failed > 0 {
                tokio::time::sleep(pause(failed)).await;
            }
            if self.is_closed() {
                return Outcome::Failed(Arc::new(ClientError::Closed));
            }
            if tx.receiver_count() == 0 {
                debug!("no scan waits for the reconnect; stopping it");
                return Outcome::Abandoned;
            }
            let per_try = self.reconnect_try();
            let config = &self.inner.config;
            match gateways
                .try_next(&self.inner.endpoint, config, per_try)
                .await
            {
                Tried::Connected(link) => {
                    failures.store(0, Ordering::Relaxed);
                    if self.is_closed() {
                        link.close(CLOSE_CODE_DONE, b"scanner closed");
                        return Outcome::Failed(Arc::new(ClientError::Closed));
                    }
                    *self.lock_link() = Some(Arc::clone(&link));
                    return Outcome::Connected(link);
                }
                Tried::Refused(e) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    refused_in_a_row += 1;
                    if refused_in_a_row >= gateways.len() {
                        return Outcome::Failed(Arc::new(gateways.all_failed(e)));
                    }
                }
                Tried::TimedOut => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    refused_in_a_row = 0;
                }
            }
        }
    }
}

/// The pause before the next try after `failures` failed tries in a row:
/// [`RECONNECT_PAUSE_BASE_MS`] doubled per further failure, at most
/// [`RECONNECT_PAUSE_MAX_MS`], then drawn uniformly from its upper half so
/// that scanners cut off together do not come back in step.
fn pause(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let ms = RECONNECT_PAUSE_BASE_MS
        .saturating_mul(1 << doublings)
        .min(RECONNECT_PAUSE_MAX_MS);
    Duration::from_millis(fastrand::u64(ms / 2..=ms))
}

/// A copy of a reconnect's error for one of the scans that waited for it
/// (a reconnect ends in `Connect`, `AllGatewaysFailed` or `Closed`).
fn duplicate(e: &ClientError) -> ClientError {
    match e {
        ClientError::Connect { addr, reason } => ClientError::Connect {
            addr: *addr,
            reason: reason.clone(),
        },
        ClientError::AllGatewaysFailed { tried, last } => ClientError::AllGatewaysFailed {
            tried: *tried,
            last: Box::new(duplicate(last)),
        },
        ClientError::Closed => ClientError::Closed,
        other => ClientError::Connect {
            addr: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_stay_bounded_and_are_jittered() {
        for _ in 0..100 {
            let first = pause(1).as_millis() as u64;
            assert!((RECONNECT_PAUSE_BASE_MS / 2..=RECONNECT_PAUSE_BASE_MS).contains(&first));
            let third = pause(3).as_millis() as u64;
            assert!((200..=400).contains(&third), "{third}");
            let late = pause(u32::MAX).as_millis() as u64;
            assert!((RECONNECT_PAUSE_MAX_MS / 2..=RECONNECT_PAUSE_MAX_MS).contains(&late));
        }
        let draws: std::collections::HashSet<_> = (0..50).map(|_| pause(5)).collect();
        assert!(draws.len() > 1, "no jitter");
    }

    #[test]
    fn a_reconnect_error_is_copied_whole() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 7));
        let e = ClientError::AllGatewaysFailed {
            tried: 2,
            last: Box::new(ClientError::Connect {
                addr,
                reason: "refused".into(),
            }),
        };
        assert_eq!(duplicate(&e).to_string(), e.to_string());
        assert!(matches!(
            duplicate(&ClientError::Closed),
            ClientError::Closed
        ));
    }
}
