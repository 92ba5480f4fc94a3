//! The offline path's requests on a [`Scanner`]: downloading a signed
//! snapshot (or delta) in pipelined chunks, and uploading offline scans in
//! bounded batches. What a device does with them is in [`crate::offline`].

use crate::{ClientError, Scanner};
use scangate_core::offline::messages::{
    Downloaded, OfflineAck, OfflineScan, OfflineUpload, SNAPSHOT_CHUNK_MAX_BYTES, SnapshotChunk,
    SnapshotDownload, SnapshotFetch, UPLOAD_BATCH_MAX,
};
use scangate_core::wire::{ErrorCode, RequestBody, ResponseBody};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::task::JoinSet;

/// Longest one snapshot download may take, chunks and restarts included
/// (5 minutes): a 1M-pass snapshot (19 MB) over a 1 Mbit/s venue uplink
/// takes about 160 s; a download that cannot finish in this time leaves the
/// device on the snapshot it holds rather than waiting on.
pub const SNAPSHOT_DOWNLOAD_MAX_MS: u64 = 300_000;
/// Most chunk requests in flight during one download (32 chunks, 96 KiB):
/// a 6,000-chunk snapshot then takes about 190 round trips rather than
/// 6,000, and the replies stay far under the stream's receive window. The
/// scanner's `max_in_flight` bounds it further, scans included.
pub const SNAPSHOT_WINDOW_CHUNKS: usize = 32;
/// Times a download starts over when the gateway moved on from the version
/// being downloaded (`snapshot_unavailable` after the first chunk); then
/// the error is returned and the device tries at its next refresh.
pub const DOWNLOAD_RESTARTS_MAX: u32 = 2;

/// How one download from the first chunk on ended.
enum Attempted {
    Done(Downloaded),
    /// `snapshot_unavailable` after the first chunk: the gateway no longer
    /// holds the version being downloaded; start over.
    MovedOn(ClientError),
}

impl Scanner {
    /// Downloads the newest snapshot of `event`, or a delta from
    /// `have_version` when the gateway offers one, within
    /// [`SNAPSHOT_DOWNLOAD_MAX_MS`]. Up to [`SNAPSHOT_WINDOW_CHUNKS`] chunk
    /// requests are in flight at once. The bytes are not verified here:
    /// open them with `SnapshotVerifier::open_snapshot` / `open_delta`.
    ///
    /// Errors: [`ClientError::SnapshotUnavailable`] when the gateway serves
    /// no snapshot of `event`; [`ClientError::Rejected`] for another
    /// refusal; [`ClientError::Download`] for a chunk that does not
    /// continue the download; [`ClientError::DownloadTimeout`].
    pub async fn fetch_snapshot(
        &self,
        event: &str,
        have_version: Option<u64>,
    ) -> Result<Downloaded, ClientError> {
        let after = Duration::from_millis(SNAPSHOT_DOWNLOAD_MAX_MS);
        let download = async {
            let mut restarts = 0;
            loop {
                match self.download_once(event, have_version).await? {
                    Attempted::Done(done) => return Ok(done),
                    Attempted::MovedOn(e) if restarts >= DOWNLOAD_RESTARTS_MAX => return Err(e),
                    Attempted::MovedOn(_) => restarts += 1,
                }
            }
        };
        tokio::time::timeout(after, download)
            .await
            .map_err(|_| ClientError::DownloadTimeout { after })?
    }

    /// Uploads `scans` in batches of at most [`UPLOAD_BATCH_MAX`], one
    /// request (one attempt) per batch, and returns one acknowledgement per
    /// scan, in order. Uploads are idempotent by scan id, so a batch that
    /// failed may be sent again. An empty slice sends nothing.
    pub async fn upload(&self, scans: &[OfflineScan]) -> Result<OfflineAck, ClientError> {
        let mut acks = Vec::with_capacity(scans.len());
        for batch in scans.chunks(UPLOAD_BATCH_MAX) {
            let body = RequestBody::OfflineUpload(OfflineUpload {
                scans: batch.to_vec(),
            });
            let ack = match self.request(body).await?.body {
                ResponseBody::OfflineAck(ack) => ack,
                ResponseBody::Error(e) => return Err(ClientError::Rejected(e)),
                other => {
                    return Err(ClientError::Protocol(format!(
                        "an upload was answered with {other:?}"
                    )));
                }
            };
            let matches = ack.scans.len() == batch.len()
                && ack
                    .scans
                    .iter()
                    .zip(batch)
                    .all(|(a, s)| a.scan_id == s.scan_id);
            if !matches {
                return Err(ClientError::Protocol(
                    "the upload's acknowledgement does not name the uploaded scans in order".into(),
                ));
            }
            acks.extend(ack.scans);
        }
        Ok(OfflineAck { scans: acks })
    }

    /// One download from the first chunk on.
    async fn download_once(
        &self,
        event: &str,
        have_version: Option<u64>,
    ) -> Result<Attempted, ClientError> {
        let mut download = SnapshotDownload::new(event, have_version);
        let first = download
            .next_request()
            .ok_or_else(|| ClientError::Protocol("a download with no first request".into()))?;
        let chunk = self.fetch_chunk(first).await?;
        download.accept(&chunk)?;
        let stride = chunk.data.len().clamp(1, SNAPSHOT_CHUNK_MAX_BYTES);
        if download.next_request().is_some() {
            match self.rest(&mut download, stride, chunk.total_len).await {
                Err(e @ ClientError::SnapshotUnavailable { .. }) => {
                    return Ok(Attempted::MovedOn(e));
                }
                other => other?,
            }
        }
        download
            .finish()
            .map(Attempted::Done)
            .ok_or_else(|| ClientError::Protocol("the download ended incomplete".into()))
    }

    /// The chunks after the first: requests at `stride` apart, at most
    /// [`SNAPSHOT_WINDOW_CHUNKS`] in flight; replies are fed to `download`
    /// in order. A gateway that sends shorter chunks than the first leaves
    /// a gap; once the window drains, requests start again where the
    /// download stands.
    async fn rest(
        &self,
        download: &mut SnapshotDownload,
        stride: usize,
        total_len: u32,
    ) -> Result<(), ClientError> {
        let window = SNAPSHOT_WINDOW_CHUNKS
            .min(self.config().max_in_flight)
            .max(1);
        let mut in_flight: JoinSet<(u32, Result<SnapshotChunk, ClientError>)> = JoinSet::new();
        let mut arrived: BTreeMap<u32, SnapshotChunk> = BTreeMap::new();
        let Some(mut next) = download.next_request() else {
            return Ok(());
        };
        while let Some(want) = download.next_request() {
            while in_flight.len() + arrived.len() < window && next.offset < total_len {
                let scanner = self.clone();
                let request = next.clone();
                in_flight
                    .spawn(async move { (request.offset, scanner.fetch_chunk(request).await) });
                next.offset = next.offset.saturating_add(stride as u32);
            }
            let Some(joined) = in_flight.join_next().await else {
                // Every request is answered, yet the download is not where
                // they started: the chunks were shorter. Go on from here.
                arrived.clear();
                next = want;
                continue;
            };
            let (offset, chunk) = joined
                .map_err(|e| ClientError::Protocol(format!("a chunk request failed: {e}")))?;
            arrived.insert(offset, chunk?);
            while let Some(want) = download.next_request() {
                let Some(chunk) = arrived.remove(&want.offset) else {
                    break;
                };
                download.accept(&chunk)?;
            }
            debug_assert!(arrived.len() + in_flight.len() <= window);
        }
        Ok(())
    }

    /// One chunk, asked up to `attempts` times (a read: repeating it is
    /// harmless), so one lost reply does not cost the whole download.
    async fn fetch_chunk(&self, request: SnapshotFetch) -> Result<SnapshotChunk, ClientError> {
        let mut attempt = 1;
        loop {
            match self.fetch_chunk_once(request.clone()).await {
                Err(e) if e.is_retryable() && attempt < self.config().attempts => attempt += 1,
                other => return other,
            }
        }
    }

    /// One chunk request and its reply.
    async fn fetch_chunk_once(&self, request: SnapshotFetch) -> Result<SnapshotChunk, ClientError> {
        let event = request.event.clone();
        match self.request(RequestBody::Snapshot(request)).await?.body {
            ResponseBody::Snapshot(chunk) => Ok(chunk),
            ResponseBody::Error(e) if e.code == ErrorCode::SnapshotUnavailable => {
                Err(ClientError::SnapshotUnavailable {
                    event,
                    message: e.message().to_string(),
                })
            }
            ResponseBody::Error(e) => Err(ClientError::Rejected(e)),
            other => Err(ClientError::Protocol(format!(
                "a snapshot request was answered with {other:?}"
            ))),
        }
    }
}
