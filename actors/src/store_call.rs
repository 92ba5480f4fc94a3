//! Store calls under their deadlines, and the reply port a request is
//! answered on once (early, when a write outlives its deadline).

use ractor::RpcReplyPort;
use scangate_storage::StoreError;
use std::future::Future;
use std::time::Duration;

/// Where a request's answer goes: once, at the end, or early when a write
/// outlives the store deadline (then the end's answer has no one to go to).
pub(crate) struct Reply<T>(Option<RpcReplyPort<T>>);

impl<T> Reply<T> {
    pub(crate) fn new(port: RpcReplyPort<T>) -> Self {
        Reply(Some(port))
    }

    /// Answers, unless answered already. The caller may have given up (its
    /// own deadline); nothing to do then.
    pub(crate) fn send(&mut self, answer: T) {
        if let Some(port) = self.0.take() {
            let _ = port.send(answer);
        }
    }
}

/// A store write under the deadline. The store may have taken the write
/// already (the embedded store's writer queue, a ScyllaDB request on the
/// wire), so running out does not withdraw it: `on_late` answers the caller
/// (outcome unknown, retry with the same scan id) and the write's own
/// outcome is awaited, so this actor's memory stays what the store holds and
/// no fresh actor reads the pass before the write lands.
pub(crate) async fn write<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
    on_late: impl FnOnce(),
) -> Result<T, StoreError> {
    let mut call = std::pin::pin!(call);
    if let Ok(outcome) = tokio::time::timeout(timeout, &mut call).await {
        return outcome;
    }
    metrics::counter!("scangate_store_late_writes_total").increment(1);
    // Debug only: the caller's `unavailable` is logged where it is answered
    // (one line per scan already), and a failure by `fail`.
    tracing::debug!(
        ?timeout,
        "a store write outlived its deadline; answered unavailable, waiting for its outcome"
    );
    on_late();
    call.await
}

/// A store read under its deadline; running out is a [`StoreError::Timeout`].
pub(crate) async fn deadline<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(StoreError::Timeout(timeout)))
}
