//! Offline snapshots at the gateway (issue 26): per event, a signed
//! snapshot of what a scanner needs to decide alone, built from the store's
//! passes and served chunk by chunk over `scangate/1`, with deltas for a
//! device that holds a recent version.
//!
//! Rules and bounds ([`SnapshotLimits`]):
//! - A version is its creation time in Unix ms, strictly increasing in one
//!   gateway ([`building::VersionClock`]); reconciliation reads an offline
//!   scan's `snapshot_version` as that time.
//! - At most one build per event at a time (a lock per event), never on the
//!   runtime's workers, and a built snapshot (or a refusal: no passes, too
//!   many) is reused for `reuse_ms`, so 200 scanners refreshing at once cost
//!   one build.
//! - The newest `versions_per_event` versions of an event are kept to make
//!   deltas from; a device holding an older one gets the whole snapshot. All
//!   blobs share one LRU bounded in bytes ([`held`]); a download whose blob
//!   was dropped is answered `snapshot_unavailable` and starts over.
//! - A first request (no `version`) waits for a build at most
//!   `fetch_timeout_ms`; every later chunk is a lookup and a slice, answered
//!   without waiting.
//!
//! Metrics: `scangate_offline_snapshot_bytes` (held), `_builds_total{outcome}`,
//! `_build_seconds`, `_chunks_total{kind}` (snapshot, delta, current).

mod building;
mod held;

use crate::config::SnapshotLimits;
use crate::edge::scan_service::error;
use building::{Recipe, VersionClock, build_signed, load_passes};
use bytes::Bytes;
use held::{Blob, BlobKey, Held};
use metrics::counter;
use scangate_core::offline::messages::{SnapshotChunk, SnapshotFetch};
use scangate_core::offline::{BuildError, Delta, SnapshotMeta, SnapshotSigner, SnapshotVerifier};
use scangate_core::pass::{EVENT_MAX_BYTES, check_name};
use scangate_core::token::Keyring;
use scangate_core::wire::{ErrorCode, ResponseBody};
use scangate_storage::Store;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a snapshot request is not answered with a chunk. The wire code a
/// scanner acts on is [`FetchError::code`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The event name breaks the name rule.
    #[error("{0}")]
    InvalidName(String),
    /// An offset past the end of the blob, or a first request (no
    /// `version`) that does not start at 0.
    #[error("offset {offset} is not inside the blob being downloaded")]
    BadOffset {
        /// The offset asked for.
        offset: u32,
    },
    /// The event has no passes on this gateway.
    #[error("this gateway has no passes of that event, so no offline snapshot")]
    NoPasses,
    /// The event has more passes than one snapshot may hold.
    #[error("the event has more than {max} passes, more than one offline snapshot holds")]
    TooManyPasses {
        /// [`SnapshotLimits::max_passes`].
        max: usize,
    },
    /// The passes make no valid snapshot (too many gates or profiles, ...).
    #[error("no offline snapshot can be built for the event: {0}")]
    Build(BuildError),
    /// The version (or delta) being downloaded is no longer held.
    #[error("version {version} is no longer held; start the download again")]
    NotHeld {
        /// The version asked for.
        version: u64,
    },
    /// The store could not be read.
    #[error("the passes could not be read: {0}; try again")]
    Store(String),
    /// No snapshot was ready within the fetch deadline.
    #[error("no offline snapshot was ready within {0:?}; try again")]
    Timeout(Duration),
    /// The build's thread stopped (the gateway is shutting down).
    #[error("the snapshot build stopped; try again")]
    Stopped,
    /// The connection has as many requests in flight as it may.
    #[error("too many requests in flight on this connection; ask again")]
    InFlight,
    /// The device asks for new snapshots faster than its scan rate allows.
    #[error("this device asks for snapshots too often; ask again later")]
    RateLimited,
    /// The gateway is shutting down: no build starts.
    #[error("the gateway is shutting down; ask another gateway")]
    ShuttingDown,
}

impl FetchError {
    /// The error code on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            FetchError::InvalidName(_) | FetchError::BadOffset { .. } => ErrorCode::InvalidRequest,
            FetchError::Store(_)
            | FetchError::Timeout(_)
            | FetchError::Stopped
            | FetchError::InFlight
            | FetchError::RateLimited => ErrorCode::Unavailable,
            FetchError::ShuttingDown => ErrorCode::ShuttingDown,
            _ => ErrorCode::SnapshotUnavailable,
        }
    }

    /// Whether the answer holds until the next build may run: a refusal
    /// that the event's passes cause, not a passing failure.
    fn lasts(&self) -> bool {
        matches!(
            self,
            FetchError::NoPasses | FetchError::TooManyPasses { .. } | FetchError::Build(_)
        )
    }
}

/// What the gateway knows of one event's builds; behind a lock, so at most
/// one build of the event runs at a time.
#[derive(Default)]
struct Versions {
    /// Versions held, oldest first; the last is the newest.
    held: VecDeque<u64>,
    /// When the last build ran, and its refusal if it was refused.
    last: Option<(Instant, Option<FetchError>)>,
}

/// The gateway's offline snapshots, shared by every connection.
pub struct Snapshots {
    signer: SnapshotSigner,
    keyring: Arc<Keyring>,
    store: Arc<dyn Store>,
    limits: SnapshotLimits,
    events: moka::sync::Cache<Arc<str>, Arc<tokio::sync::Mutex<Versions>>>,
    held: Held,
    clock: VersionClock,
}

impl Snapshots {
    /// Snapshots of the passes in `store`, indexed under every key of
    /// `keyring`, signed by `signer`.
    pub fn new(
        signer: SnapshotSigner,
        keyring: Arc<Keyring>,
        store: Arc<dyn Store>,
        limits: SnapshotLimits,
    ) -> Self {
        Snapshots {
            signer,
            keyring,
            store,
            events: moka::sync::Cache::new(limits.max_events),
            held: Held::new(limits.held_bytes),
            limits,
            clock: VersionClock::default(),
        }
    }

    /// The public key devices verify these snapshots with.
    pub fn verifier(&self) -> SnapshotVerifier {
        self.signer.verifier()
    }

    /// The answer to a request that needs no waiting: every request naming
    /// the `version` being downloaded (a lookup and a slice), and a bad one.
    /// `None`: a first request, answer it with [`Snapshots::answer`].
    pub fn answer_now(&self, req: &SnapshotFetch) -> Option<ResponseBody> {
        if let Err(e) = check_name("event", &req.event, EVENT_MAX_BYTES) {
            return Some(reply(Err(FetchError::InvalidName(e.to_string()))));
        }
        match req.version {
            Some(version) => Some(reply(self.chunk(
                &req.event,
                req.have_version,
                version,
                req.offset,
            ))),
            None if req.offset != 0 => {
                Some(reply(Err(FetchError::BadOffset { offset: req.offset })))
            }
            None => None,
        }
    }

    /// The answer to a first request: the newest version (built if the
    /// last build is older than `reuse_ms`), as a delta from the device's
    /// version when one can be made, else whole; or "current".
    pub async fn answer(&self, req: &SnapshotFetch) -> ResponseBody {
        let wait = Duration::from_millis(self.limits.fetch_timeout_ms);
        let event: Arc<str> = req.event.as_str().into();
        match tokio::time::timeout(wait, self.prepare(&event, req.have_version)).await {
            Ok(Ok((base, version))) if base == Some(version) => {
                counter!("scangate_offline_snapshot_chunks_total", "kind" => "current")
                    .increment(1);
                reply(
                    SnapshotChunk::of(&req.event, version, base, &Bytes::new(), 0)
                        .ok_or(FetchError::BadOffset { offset: 0 }),
                )
            }
            Ok(Ok((base, version))) => reply(self.chunk(&req.event, base, version, 0)),
            Ok(Err(e)) => reply(Err(e)),
            Err(_) => reply(Err(FetchError::Timeout(wait))),
        }
    }

    /// `(base, version)` of the blob to send: the newest version, with
    /// `base` = the device's version when a delta from it is held (or is
    /// made now), `base == Some(version)` when the device is up to date.
    async fn prepare(
        &self,
        event: &Arc<str>,
        have: Option<u64>,
    ) -> Result<(Option<u64>, u64), FetchError> {
        let state = self.events.get_with(event.clone(), Default::default);
        let mut versions = state.lock().await;
        let version = self.current(event, &mut versions).await?;
        let base = match have {
            Some(h) if h == version => Some(h),
            Some(h) if versions.held.contains(&h) => self.delta(event, h, version).await,
            _ => None,
        };
        Ok((base, version))
    }

    /// The newest version, built anew once the last build is `reuse_ms` old.
    async fn current(&self, event: &Arc<str>, versions: &mut Versions) -> Result<u64, FetchError> {
        let reuse = Duration::from_millis(self.limits.reuse_ms);
        let newest = versions.held.back().copied();
        match &versions.last {
            Some((at, Some(refusal))) if at.elapsed() < reuse => return Err(refusal.clone()),
            Some((at, None)) if at.elapsed() < reuse => {
                if let Some(v) = newest.filter(|v| self.held.snapshot(event, *v).is_some()) {
                    return Ok(v);
                }
            }
            _ => {}
        }
        let built = self.build_next(event, versions).await;
        match &built {
            Err(e) if !e.lasts() => {}
            _ => versions.last = Some((Instant::now(), built.as_ref().err().cloned())),
        }
        built
    }

    /// Builds the next version from the store, seeded with the newest held
    /// one (so deltas between them stay small), and holds it.
    async fn build_next(
        &self,
        event: &Arc<str>,
        versions: &mut Versions,
    ) -> Result<u64, FetchError> {
        let max = self.limits.max_passes;
        let passes = load_passes(self.store.as_ref(), event, max)
            .await
            .inspect_err(|e| {
                if let FetchError::TooManyPasses { .. } = e {
                    tracing::warn!(%event, max, "an event has too many passes for an offline snapshot; none is served");
                }
            })?;
        if passes.is_empty() {
            return Err(FetchError::NoPasses);
        }
        let previous = versions
            .held
            .back()
            .and_then(|v| self.held.snapshot(event, *v));
        let version = self.clock.next(crate::now_ms());
        let created_ms = i64::try_from(version).unwrap_or(i64::MAX);
        let recipe = Recipe {
            meta: SnapshotMeta::new(event.as_ref(), version, created_ms),
            keyring: self.keyring.clone(),
            signer: self.signer.clone(),
            previous,
        };
        let count = passes.len();
        let (snapshot, bytes) = build_signed(recipe, passes).await.inspect_err(|e| {
            tracing::warn!(%event, error = %e, "no offline snapshot can be built for an event");
        })?;
        tracing::debug!(%event, version, passes = count, bytes = bytes.len(), "built an offline snapshot");
        let blob = Blob::Snapshot {
            snapshot: Arc::new(snapshot),
            bytes: bytes.into(),
        };
        self.held.insert(BlobKey::snapshot(event, version), blob);
        versions.held.push_back(version);
        while versions.held.len() > self.limits.versions_per_event.max(1) {
            if let Some(old) = versions.held.pop_front() {
                self.held
                    .forget(event, old, versions.held.make_contiguous());
            }
        }
        Ok(version)
    }

    /// `Some(base)` once the signed delta `base -> version` is held (made
    /// now on a blocking thread if need be); `None` when none can be made
    /// (not an extension, too large, a version dropped): send it whole.
    async fn delta(&self, event: &Arc<str>, base: u64, version: u64) -> Option<u64> {
        let key = BlobKey {
            event: event.clone(),
            base: Some(base),
            version,
        };
        if self.held.get(&key).is_some() {
            return Some(base);
        }
        let old = self.held.snapshot(event, base)?;
        let new = self.held.snapshot(event, version)?;
        let signer = self.signer.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            Delta::between(&old, &new).ok()?.to_signed_bytes(&signer)
        })
        .await
        .ok()??;
        self.held.insert(key, Blob::Delta(bytes.into()));
        Some(base)
    }

    /// The chunk at `offset` of the held blob `(event, base, version)`.
    fn chunk(
        &self,
        event: &str,
        base: Option<u64>,
        version: u64,
        offset: u32,
    ) -> Result<SnapshotChunk, FetchError> {
        let key = BlobKey {
            event: event.into(),
            base,
            version,
        };
        let blob = self.held.get(&key).ok_or(FetchError::NotHeld { version })?;
        let chunk = SnapshotChunk::of(event, version, base, blob.bytes(), offset)
            .ok_or(FetchError::BadOffset { offset })?;
        let kind = if base.is_some() { "delta" } else { "snapshot" };
        counter!("scangate_offline_snapshot_chunks_total", "kind" => kind).increment(1);
        Ok(chunk)
    }

    /// The error reply for a request refused at the edge (in flight, rate,
    /// shutdown), counted with the others.
    pub fn refusal(e: FetchError) -> ResponseBody {
        reply(Err(e))
    }

    /// Bytes of snapshots and deltas held now.
    pub fn held_bytes(&self) -> u64 {
        self.held.bytes()
    }
}

/// A chunk, or the error reply for `e`.
fn reply(chunk: Result<SnapshotChunk, FetchError>) -> ResponseBody {
    match chunk {
        Ok(chunk) => ResponseBody::Snapshot(chunk),
        Err(e) => {
            counter!("scangate_offline_snapshot_refused_total", "code" => e.code().as_str())
                .increment(1);
            error(e.code(), e.to_string())
        }
    }
}

#[cfg(test)]
mod tests;
