//! The offline requests of a stream: a snapshot fetch and an upload. Each
//! is admitted here (the device's rate bucket, the connection's in-flight
//! bound, shutdown) and, when it may wait, answered by a task of its own
//! ([`Stream::answer_later`]); the rules live in [`crate::edge::snapshots`]
//! and [`crate::edge::uploads`].

use super::{Reply, Stream};
use crate::edge::snapshots::{FetchError, Snapshots};
use scangate_core::offline::messages::{OfflineUpload, SnapshotFetch};
use scangate_core::wire::{Response, ResponseBody};
use tokio::sync::mpsc;

impl Stream {
    /// A snapshot request: a chunk of a download under way is answered here
    /// (a lookup and a slice); a first request, which may wait for a build,
    /// takes a token of the device's rate bucket and gets a task of its own
    /// under the connection's in-flight bound (none while shutting down).
    pub(super) fn snapshot(
        &mut self,
        id: u64,
        fetch: SnapshotFetch,
        tx: &mpsc::Sender<Reply>,
    ) -> Option<Response> {
        if self.standing.revoked(&self.device, &self.listener.revoked) {
            return None;
        }
        let snapshots = &self.listener.snapshots;
        if let Some(body) = snapshots.answer_now(&fetch) {
            return Some(Response { id, body });
        }
        let refused = if self.listener.shutdown.is_cancelled() {
            Some(FetchError::ShuttingDown)
        } else if !self.bucket.try_take() {
            Some(FetchError::RateLimited)
        } else {
            None
        };
        let permit = match (refused, self.in_flight.clone().try_acquire_owned()) {
            (None, Ok(permit)) => permit,
            (refused, _) => {
                let body = Snapshots::refusal(refused.unwrap_or(FetchError::InFlight));
                return Some(Response { id, body });
            }
        };
        let snapshots = snapshots.clone();
        self.answer_later(
            id,
            tx,
            permit,
            async move { snapshots.answer(&fetch).await },
        );
        None
    }

    /// An offline upload: admitted here ([`crate::edge::uploads::Uploads::admit`]:
    /// batch, rate, in-flight), then reconciled in a task of its own; the
    /// acknowledgement goes out once what it records is durable.
    pub(super) fn upload(
        &mut self,
        id: u64,
        upload: OfflineUpload,
        tx: &mpsc::Sender<Reply>,
    ) -> Option<Response> {
        if self.standing.revoked(&self.device, &self.listener.revoked) {
            return None;
        }
        let uploads = &self.listener.uploads;
        let shutting_down = self.listener.shutdown.is_cancelled();
        let permit = match uploads.admit(&upload, shutting_down, &self.bucket, &self.in_flight) {
            Ok(permit) => permit,
            Err(refused) => {
                return Some(Response {
                    id,
                    body: refused.body(),
                });
            }
        };
        let (uploads, device) = (uploads.clone(), self.device.clone());
        self.answer_later(id, tx, permit, async move {
            ResponseBody::OfflineAck(uploads.reconcile(&device, upload).await)
        });
        None
    }
}
