//! SIGTERM and Ctrl-C both start a graceful shutdown. SIGXFSZ (a write past
//! a file-size limit) does not kill the gateway: the write fails instead, as
//! on a full disk, and the store fails closed.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM or SIGINT.
pub async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
        _ = token.cancelled() => return,
    }
    token.cancel();
}

/// Stops SIGXFSZ from killing the process: with a file-size limit set
/// (`ulimit -f`, systemd's `LimitFSIZE=`), a write past it then fails with
/// EFBIG like a write to a full disk, so the store refuses further writes
/// and `/readyz` says why, instead of the gateway dying in the middle of a
/// batch. Warns once when it happens.
pub fn fail_writes_past_file_size_limit() {
    use tokio::signal::unix::{SignalKind, signal};
    let raw = rustix::process::Signal::XFSZ.as_raw();
    match signal(SignalKind::from_raw(raw)) {
        Ok(mut xfsz) => {
            tokio::spawn(async move {
                if xfsz.recv().await.is_some() {
                    tracing::warn!(
                        "a write went past the file-size limit (RLIMIT_FSIZE) and failed"
                    );
                }
                // Keep listening, so the signal stays caught, without more lines.
                while xfsz.recv().await.is_some() {}
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot catch SIGXFSZ; a file-size limit would kill the gateway")
        }
    }
}
