//! The scanner handle: scans with deadlines, safe retries and reconnects.
//!
//! A dead link is replaced by the scanner's one reconnect task
//! (`scanner/reconnect.rs`), which every scan needing a link waits for up
//! to its own attempt deadline; no scan's deadline cuts a handshake short.

mod reconnect;

use crate::error::is_retryable_code;
use crate::gateways::Gateways;
use crate::link::{CLOSE_CODE_DONE, Link};
use crate::{ClientError, ScannerConfig};
use scangate_core::event::Direction;
use scangate_core::scan::ScanId;
use scangate_core::token::redact;
use scangate_core::wire::{ErrorCode, RequestBody, Response, ResponseBody, ScanReply, ScanRequest};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::{debug, info};

/// Pause before retrying after a fast failure (refused connection,
/// `unavailable`), doubled per retry: gives a restarting gateway a moment
/// instead of burning every attempt within a millisecond.
const RETRY_BACKOFF_BASE_MS: u64 = 50;
/// Longest pause between two attempts.
const RETRY_BACKOFF_MAX_MS: u64 = 1_000;
/// Longest [`Scanner::close`] waits for requests in flight to finish.
const CLOSE_DRAIN_MAX_MS: u64 = 5_000;
/// Longest [`Scanner::close`] waits for the gateway to acknowledge the close.
const CLOSE_IDLE_WAIT_MS: u64 = 1_000;
/// Shortest time one reconnect handshake is given before a fresh one is
/// started (within the attempt's deadline). A lost first packet is otherwise
/// resent only after QUIC's initial timeout (about 1 s, then doubling), so a
/// gateway that comes back just after a try began would be reached a second
/// or more late; a venue-LAN handshake takes milliseconds.
const RECONNECT_TRY_MIN_MS: u64 = 250;
/// A reconnect try lasts at least this many round trips of the last
/// connection (a handshake needs one or two), so a far gateway is still reached.
const RECONNECT_TRY_RTTS: u32 = 4;

/// One scan, as the scanner read it. Its `Debug` output redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ScanInput {
    /// The token read from the QR code. Never logged in full.
    pub token: String,
    /// The gate this scanner stands at.
    pub gate: String,
    /// The event the scanner is configured for, if it checks one.
    pub event: Option<String>,
    /// The scan id; `None` draws a random one. Reuse an id only to retry the
    /// very same scan (the gateway then answers with the first decision).
    pub scan_id: Option<ScanId>,
}

/// How a scan is asked, beyond what it is of (all off by default: a plain
/// scan, as before the event floor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// An entry or an exit, for a gate of an event with a definition that
    /// lets people pass both ways; `None`: the gate's own direction.
    pub direction: Option<Direction>,
    /// Decide only: nothing is counted, moved or recorded, and the scan id
    /// stays free (a guard checking a pass).
    pub check_only: bool,
}

impl std::fmt::Debug for ScanInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanInput")
            .field("token", &redact(&self.token))
            .field("gate", &self.gate)
            .field("event", &self.event)
            .field("scan_id", &self.scan_id)
            .finish()
    }
}

/// A connection to one gateway, shared by every task of a scanner app.
///
/// Cheap to clone (all clones share one QUIC connection and one pipelined
/// stream). At most `max_in_flight` requests are outstanding; further callers
/// wait for a slot, up to `request_timeout_ms`.
#[derive(Clone)]
pub struct Scanner {
    inner: Arc<Inner>,
}

struct Inner {
    config: ScannerConfig,
    endpoint: quinn::Endpoint,
    /// The gateway addresses and the one in use.
    gateways: Gateways,
    /// The current link, if any (a dead one is replaced on next use).
    link: Mutex<Option<Arc<Link>>>,
    /// The reconnect in flight (one per scanner, a task of its own), so a
    /// lost connection is replaced once, not by every waiting scan.
    reconnects: reconnect::Reconnects,
    /// In-flight slots (`max_in_flight` permits).
    slots: Semaphore,
    closed: AtomicBool,
    /// The round-trip time of the last link given up, in microseconds (0:
    /// none yet); sizes reconnect tries.
    last_rtt_us: AtomicU64,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("gateway", &self.inner.gateways.current())
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Scanner {
    /// Validates `config` and connects (within `connect_timeout_ms` per
    /// gateway address, tried in order), so a wrong address or certificate
    /// shows up here rather than at the first scan.
    pub async fn connect(config: ScannerConfig) -> Result<Scanner, ClientError> {
        config.validate()?;
        let client = config.quinn_client()?;
        let gateways = Gateways::new(&config);
        let addr = gateways.current();
        // `validate` checked that every address (and `local_ip`) is of this family.
        let bind: SocketAddr = match config.local_ip {
            Some(ip) => (ip, 0).into(),
            None if addr.is_ipv6() => (Ipv6Addr::UNSPECIFIED, 0).into(),
            None => (Ipv4Addr::UNSPECIFIED, 0).into(),
        };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| ClientError::Connect {
            addr,
            reason: format!("cannot open a UDP socket on {bind}: {e}"),
        })?;
        endpoint.set_default_client_config(client);
        let link = gateways.first_link(&endpoint, &config).await?;
        Ok(Scanner {
            inner: Arc::new(Inner {
                slots: Semaphore::new(config.max_in_flight),
                config,
                endpoint,
                gateways,
                link: Mutex::new(Some(link)),
                reconnects: reconnect::Reconnects::default(),
                closed: AtomicBool::new(false),
                last_rtt_us: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration this scanner runs with.
    pub fn config(&self) -> &ScannerConfig {
        &self.inner.config
    }

    /// Asks the gateway to decide a scan.
    ///
    /// Each attempt has `request_timeout_ms`; a timeout, a lost connection
    /// (reconnected on the next attempt) or an `unavailable`/`shutting_down`
    /// answer is retried **with the same scan id**, up to `attempts` in all,
    /// which is safe: the gateway answers a retry with the first decision and
    /// counts it once. A denial (including `busy` and `rate_limited`) is a
    /// normal reply, returned as it is.
    pub async fn scan(&self, input: ScanInput) -> Result<ScanReply, ClientError> {
        self.scan_with(input, ScanOptions::default()).await
    }

    /// [`Self::scan`] with the event floor's options: the direction at a
    /// gate that lets people pass both ways, or a check that changes
    /// nothing (see [`ScanOptions`]).
    pub async fn scan_with(
        &self,
        input: ScanInput,
        options: ScanOptions,
    ) -> Result<ScanReply, ClientError> {
        let scan_id = match input.scan_id {
            Some(id) => id,
            None => random_scan_id()?,
        };
        let body = RequestBody::Scan(ScanRequest {
            token: input.token,
            gate: input.gate,
            event: input.event,
            scan_id: scan_id.clone(),
            scanner_time_ms: unix_now_ms(),
            // The gateway stops working on an attempt once this one gives up.
            timeout_ms: Some(
                u32::try_from(self.inner.config.request_timeout_ms).unwrap_or(u32::MAX),
            ),
            direction: options.direction.map(Into::into),
            check_only: options.check_only,
        });
        let _slot = self.slot().await?;
        let attempts = self.inner.config.attempts;
        let mut last = ClientError::ConnectionLost;
        for attempt in 1..=attempts {
            if attempt > 1 {
                if let RequestBody::Scan(request) = &body {
                    let token = redact(&request.token);
                    debug!(%scan_id, %token, attempt, error = %last, "retrying scan");
                }
                if !matches!(last, ClientError::Timeout { .. }) {
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
            // Every attempt sends the same body, borrowed: no copy per attempt.
            last = match self.attempt(&body, attempt).await {
                Ok(Response {
                    body: ResponseBody::Scan(reply),
                    ..
                }) if reply.scan_id == scan_id => return Ok(reply),
                Ok(Response {
                    body: ResponseBody::Scan(reply),
                    ..
                }) => {
                    return Err(ClientError::Protocol(format!(
                        "asked about scan {scan_id}, answered about scan {}",
                        reply.scan_id
                    )));
                }
                Ok(Response {
                    body: ResponseBody::Error(e),
                    ..
                }) if is_retryable_code(&e) => ClientError::Rejected(e),
                Ok(Response {
                    body: ResponseBody::Error(e),
                    ..
                }) => return Err(ClientError::Rejected(e)),
                Ok(Response { body, .. }) => {
                    return Err(ClientError::Protocol(format!(
                        "a scan was answered with {body:?}"
                    )));
                }
                Err(e) if e.is_retryable() => e,
                Err(e) => return Err(e),
            };
        }
        Err(last)
    }

    /// Sends one request and returns the gateway's raw reply (error replies
    /// included) — a single attempt under `request_timeout_ms`, no retry.
    pub async fn request(&self, body: RequestBody) -> Result<Response, ClientError> {
        let _slot = self.slot().await?;
        self.attempt(&body, 1).await
    }

    /// Checks the gateway answers; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let start = Instant::now();
        let response = self.request(RequestBody::Ping).await?;
        match response.body {
            ResponseBody::Pong => Ok(start.elapsed()),
            ResponseBody::Error(e) => Err(ClientError::Rejected(e)),
            other => Err(ClientError::Protocol(format!(
                "a ping was answered with {other:?}"
            ))),
        }
    }

    /// Closes gracefully: new requests fail with [`ClientError::Closed`],
    /// requests in flight get up to 5 seconds to finish, then the connection
    /// is closed and the gateway given a moment to acknowledge.
    pub async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let slots = u32::try_from(self.inner.config.max_in_flight).unwrap_or(u32::MAX);
        let drain = Duration::from_millis(CLOSE_DRAIN_MAX_MS);
        if tokio::time::timeout(drain, self.inner.slots.acquire_many(slots))
            .await
            .is_err()
        {
            debug!("closing with requests still in flight");
        }
        self.inner.slots.close();
        let link = self.lock_link().take();
        if let Some(link) = link {
            link.close(CLOSE_CODE_DONE, b"scanner closed");
        }
        let idle = Duration::from_millis(CLOSE_IDLE_WAIT_MS);
        let _ = tokio::time::timeout(idle, self.inner.endpoint.wait_idle()).await;
        info!(addr = %self.inner.gateways.current(), "scanner closed");
    }

    /// One attempt: a live link (reconnecting if needed), send, wait for the
    /// reply — all within `request_timeout_ms`.
    ///
    /// A link that misses the answer deadline is treated as dead: it is
    /// retired (requests already on it may still be answered there) and the
    /// next attempt opens a new connection. A gateway that restarted or
    /// vanished answers nothing on the old connection, and waiting for the
    /// QUIC idle timeout would leave the scanner deciding nothing for that long.
    async fn attempt(&self, body: &RequestBody, attempt: u32) -> Result<Response, ClientError> {
        let per_attempt = self.inner.config.request_timeout();
        let deadline = tokio::time::Instant::now() + per_attempt;
        let timed_out = || ClientError::Timeout {
            attempts: attempt,
            per_attempt,
        };
        let link = tokio::time::timeout_at(deadline, self.link())
            .await
            .map_err(|_| timed_out())??;
        let Ok(result) = tokio::time::timeout_at(deadline, link.call(body)).await else {
            debug!(
                attempt,
                "no answer within the attempt deadline; reconnecting"
            );
            link.retire();
            self.forget(&link);
            return Err(timed_out());
        };
        match &result {
            Err(ClientError::ConnectionLost) => self.forget(&link),
            Ok(Response {
                body: ResponseBody::Error(e),
                ..
            }) if e.code == ErrorCode::ShuttingDown => {
                // Let requests in flight finish there; new ones go to a new connection.
                link.retire();
                self.forget(&link);
            }
            _ => {}
        }
        result
    }

    /// A free in-flight slot, waiting at most `request_timeout_ms`.
    async fn slot(&self) -> Result<SemaphorePermit<'_>, ClientError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        let waited = self.inner.config.request_timeout();
        match tokio::time::timeout(waited, self.inner.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Saturated {
                max_in_flight: self.inner.config.max_in_flight,
                waited,
            }),
        }
    }

    /// The live link, or a new one from the scanner's reconnect.
    async fn link(&self) -> Result<Arc<Link>, ClientError> {
        if let Some(link) = self.live_link() {
            return Ok(link);
        }
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        self.reconnected().await
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// How long one reconnect handshake may take before a fresh one is
    /// started: [`RECONNECT_TRY_RTTS`] round trips of the last connection,
    /// at least [`RECONNECT_TRY_MIN_MS`], at most `connect_timeout_ms`.
    fn reconnect_try(&self) -> Duration {
        let rtt = Duration::from_micros(self.inner.last_rtt_us.load(Ordering::Relaxed));
        (rtt * RECONNECT_TRY_RTTS)
            .max(Duration::from_millis(RECONNECT_TRY_MIN_MS))
            .min(Duration::from_millis(self.inner.config.connect_timeout_ms))
    }

    fn live_link(&self) -> Option<Arc<Link>> {
        self.lock_link().as_ref().filter(|l| l.is_alive()).cloned()
    }

    /// Drops `link` as the current link (if it still is), remembering its
    /// round-trip time for the reconnect.
    fn forget(&self, link: &Arc<Link>) {
        let rtt_us = u64::try_from(link.rtt().as_micros()).unwrap_or(u64::MAX);
        self.inner.last_rtt_us.store(rtt_us, Ordering::Relaxed);
        let mut current = self.lock_link();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, link)) {
            *current = None;
        }
    }

    fn lock_link(&self) -> std::sync::MutexGuard<'_, Option<Arc<Link>>> {
        // Only an `Option<Arc>` swap happens under this lock: never half-done.
        self.inner.link.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A fresh random scan id from the operating system's generator.
pub fn random_scan_id() -> Result<ScanId, ClientError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ClientError::Entropy(e.to_string()))?;
    Ok(ScanId::from_random(bytes))
}

fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(2).min(16);
    let ms = RETRY_BACKOFF_BASE_MS.saturating_mul(1 << doublings);
    Duration::from_millis(ms.min(RETRY_BACKOFF_MAX_MS))
}

fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(2), Duration::from_millis(50));
        assert_eq!(backoff(3), Duration::from_millis(100));
        assert_eq!(backoff(10), Duration::from_millis(RETRY_BACKOFF_MAX_MS));
    }

    #[test]
    fn debug_output_never_shows_a_whole_token() {
        let input = ScanInput {
            token: "SECRETTOKENVALUE1234".into(),
            gate: "g".into(),
            event: None,
            scan_id: None,
        };
        assert!(!format!("{input:?}").contains("SECRETTOKENVALUE1234"));
    }

    #[test]
    fn random_scan_ids_differ() {
        let a = random_scan_id().expect("entropy");
        let b = random_scan_id().expect("entropy");
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }
}
