//! A stream's writer: the replies queued for it, encoded and coalesced into
//! one write each time it wakes.

use super::Reply;
use bytes::BytesMut;
use metrics::counter;
use quinn::SendStream;
use scangate_core::frame;
use scangate_core::wire::{ErrorCode, Response};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bytes of replies coalesced into one write.
const WRITE_BATCH_BYTES: usize = 32 * 1024;
/// How long a finished stream waits for the scanner to acknowledge its last
/// replies during shutdown.
const FINISH_ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// Appends `reply` to `out`. Every reply fits a frame by construction
/// (error messages are bounded by `WireError::new`, every field of a scan
/// reply by its type); should one not, the scanner gets a short
/// `unavailable` error for that request instead, and the stream lives on.
pub(super) fn encode_reply(reply: &Response, out: &mut BytesMut) {
    if let Err(e) = frame::encode(reply, out) {
        counter!("scangate_reply_encode_failures_total").increment(1);
        tracing::debug!(id = reply.id, error = %e, "a reply could not be encoded");
        let fallback = Response::error(
            reply.id,
            ErrorCode::Unavailable,
            "the gateway could not encode its reply; retry with the same scan id",
        );
        // A fixed, short message: this always fits.
        let _ = frame::encode(&fallback, out);
    }
}

/// Writes replies as they come, coalescing whatever is queued into one write.
/// Ends when every sender (the reader and its scan tasks) is gone.
pub(super) async fn write_replies(mut send: SendStream, mut rx: mpsc::Receiver<Reply>) {
    let mut out = BytesMut::with_capacity(WRITE_BATCH_BYTES);
    let add = |reply: Reply, out: &mut BytesMut| match reply {
        Reply::One(response) => encode_reply(&response, out),
        Reply::Answered(encoded) => out.extend_from_slice(&encoded),
    };
    while let Some(first) = rx.recv().await {
        add(first, &mut out);
        while out.len() < WRITE_BATCH_BYTES {
            match rx.try_recv() {
                Ok(next) => add(next, &mut out),
                Err(_) => break,
            }
        }
        if send.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
    if send.finish().is_ok() {
        let _ = tokio::time::timeout(FINISH_ACK_TIMEOUT, send.stopped()).await;
    }
}
