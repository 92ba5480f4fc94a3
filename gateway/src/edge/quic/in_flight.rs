//! A stream's scans in flight, driven by the stream's own task: no task is
//! spawned per scan, and the replies that finish together are encoded into
//! one buffer and handed to the stream's writer in one message (one wake of
//! the writer, one write), rather than one message and one wake per reply.
//!
//! Each scan holds one of its connection's in-flight permits
//! (`max_in_flight_per_connection`) until its reply is queued for the
//! writer, so the set is bounded by that limit. A scan's own deadline (the
//! call deadline or the scanner's `timeout_ms`) runs inside its future: the
//! stream's task is woken by its timer like any other, so the set must be
//! polled whenever the task waits (see `Stream::next_event`).

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use scangate_core::wire::Response;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::OwnedSemaphorePermit;

/// One scan being decided: its reply, and the permit it holds until that
/// reply is queued.
type Deciding = Pin<Box<dyn Future<Output = (Response, OwnedSemaphorePermit)> + Send>>;

/// The scans in flight on one stream, and the permits of those answered
/// but not yet queued for the writer.
#[derive(Default)]
pub(super) struct InFlight {
    deciding: FuturesUnordered<Deciding>,
    /// Answered, their replies in the stream's buffer, not yet handed to
    /// the writer: at most every permit of the connection.
    answered: Vec<OwnedSemaphorePermit>,
}

impl InFlight {
    /// Starts deciding request `id` (first polled by the stream's next wait).
    pub(super) fn push(
        &mut self,
        id: u64,
        permit: OwnedSemaphorePermit,
        decide: impl Future<Output = scangate_core::wire::ResponseBody> + Send + 'static,
    ) {
        self.deciding.push(Box::pin(
            decide.map(move |body| (Response { id, body }, permit)),
        ));
    }

    /// Whether no scan is being decided.
    pub(super) fn is_empty(&self) -> bool {
        self.deciding.is_empty()
    }

    /// The next reply to finish; never ready while none is in flight.
    pub(super) async fn next(&mut self) -> Response {
        match self.deciding.next().await {
            Some((reply, permit)) => {
                self.answered.push(permit);
                reply
            }
            None => std::future::pending().await,
        }
    }

    /// A reply that has finished already, if any: taken without waiting, so
    /// that the replies of one wake go out together.
    pub(super) fn ready(&mut self) -> Option<Response> {
        match self.deciding.next().now_or_never() {
            Some(Some((reply, permit))) => {
                self.answered.push(permit);
                Some(reply)
            }
            _ => None,
        }
    }

    /// The answered replies are queued for the writer: their permits go back.
    pub(super) fn queued(&mut self) {
        self.answered.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::wire::ResponseBody;
    use std::sync::Arc;
    use tokio::sync::{Semaphore, oneshot};

    /// A scan whose decision arrives on `rx`.
    fn push_waiting(set: &mut InFlight, id: u64, permits: &Arc<Semaphore>) -> oneshot::Sender<()> {
        let (tx, rx) = oneshot::channel::<()>();
        let permit = Arc::clone(permits).try_acquire_owned().expect("a permit");
        set.push(id, permit, async move {
            let _ = rx.await;
            ResponseBody::Pong
        });
        tx
    }

    #[tokio::test]
    async fn replies_decided_together_are_taken_together_and_hold_their_permits_until_queued() {
        let permits = Arc::new(Semaphore::new(3));
        let mut set = InFlight::default();
        let decide: Vec<_> = (1..=3)
            .map(|id| push_waiting(&mut set, id, &permits))
            .collect();
        assert!(set.ready().is_none(), "nothing decided yet");
        let mut decide = decide.into_iter();
        for tx in decide.by_ref().take(2) {
            tx.send(()).expect("deciding");
        }
        let mut ids = vec![set.next().await.id];
        while let Some(reply) = set.ready() {
            ids.push(reply.id);
        }
        ids.sort_unstable();
        assert_eq!(ids, [1, 2], "both decided replies, in one wake");
        assert_eq!(permits.available_permits(), 0, "held until queued");
        set.queued();
        assert_eq!(permits.available_permits(), 2);
        assert!(!set.is_empty(), "scan 3 is still being decided");
        decide.next().expect("third").send(()).expect("deciding");
        assert_eq!(set.next().await.id, 3);
        assert!(set.is_empty());
        set.queued();
        assert_eq!(permits.available_permits(), 3);
    }
}
