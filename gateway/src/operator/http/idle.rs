//! When bytes last moved on a connection, either way: a connection on which
//! nothing moves for its idle timeout is closed ([`Activity::idle`]). A read
//! or write that moved no bytes (pending, an error, end of stream) is not
//! activity.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The last time bytes moved on one connection, shared by its I/O (which
/// touches it) and its watchdog (which reads it).
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte moved.
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once no byte has moved for `limit`.
    pub async fn idle(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// An I/O object that records its [`Activity`].
#[derive(Debug)]
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    /// Wraps `inner`; the connection counts as active from now.
    pub fn new(inner: T) -> (Self, Arc<Activity>) {
        let activity = Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        let watched = Watched {
            inner,
            activity: activity.clone(),
        };
        (watched, activity)
    }

    fn moved<E>(&self, polled: Poll<Result<usize, E>>) -> Poll<Result<usize, E>> {
        if let Poll::Ready(Ok(n)) = &polled
            && *n > 0
        {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.moved(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.moved(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_either_way_count_and_silence_does_not() {
        let (near, mut far) = tokio::io::duplex(64);
        let (mut watched, activity) = Watched::new(near);
        assert_eq!(activity.last_ms.load(Ordering::Relaxed), 0);
        // Wait until the clock has moved on, so a touch is visible.
        let moved = Instant::now() + Duration::from_millis(5);
        tokio::time::sleep_until(moved).await;
        watched.write_all(b"ping").await.expect("write");
        let after_write = activity.last_ms.load(Ordering::Relaxed);
        assert!(after_write >= 5, "{after_write}");
        let mut four = [0u8; 4];
        far.read_exact(&mut four).await.expect("far read");
        far.write_all(b"pong").await.expect("far write");
        tokio::time::sleep_until(Instant::now() + Duration::from_millis(5)).await;
        watched.read_exact(&mut four).await.expect("read");
        assert!(activity.last_ms.load(Ordering::Relaxed) > after_write);
        // Nothing moves: idle completes within the limit and a little.
        let began = Instant::now();
        tokio::time::timeout(
            Duration::from_secs(5),
            activity.idle(Duration::from_millis(50)),
        )
        .await
        .expect("idle within its limit");
        assert!(began.elapsed() >= Duration::from_millis(40));
    }
}
