//! Preparing the next redo segment: a background thread writes it full of
//! zeros and syncs it, so the log's `fdatasync`s overwrite allocated blocks
//! instead of growing the file (see `redo`).

use super::segment::{PREPARED_BYTES, prepared_path};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;

/// Zeros written per `write` + `fdatasync` while preparing: keeps the dirty
/// data small, so the writer's own syncs never wait behind 64 MiB.
const ZERO_CHUNK_BYTES: usize = 1024 * 1024;

/// A background zero-fill of the next segment.
pub struct Preparing {
    done: mpsc::Receiver<io::Result<()>>,
    result: Option<io::Result<()>>,
}

impl Preparing {
    /// Starts writing [`PREPARED_BYTES`] of zeros for segment `segment`, in
    /// a file of its own: a zero-fill left running by a log dropped in this
    /// process can only write to a file no later log adopts. A thread that
    /// cannot start is a zero-fill that failed: the next segment then grows
    /// as it is written, and this one does not try again.
    pub fn start(dir: &Path, segment: u64) -> Preparing {
        let path = prepared_path(dir, segment);
        let (tx, done) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("scangate-store-prep".into())
            .spawn(move || {
                let _ = tx.send(zero_fill(&path, PREPARED_BYTES));
            });
        Preparing {
            done,
            result: spawned.err().map(Err),
        }
    }

    /// Whether the zero-fill has ended well (without waiting for it).
    pub fn ready(&mut self) -> bool {
        if self.result.is_none() {
            match self.done.try_recv() {
                Ok(r) => self.result = Some(r),
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => self.result = Some(Err(panicked())),
            }
        }
        matches!(self.result, Some(Ok(())))
    }

    /// Waits for the zero-fill to end.
    pub fn settle(&mut self) {
        if self.result.is_none() {
            self.result = Some(self.done.recv().unwrap_or_else(|_| Err(panicked())));
        }
    }

    /// Waits for the zero-fill to end and returns how it went.
    pub fn wait(mut self) -> io::Result<()> {
        self.settle();
        self.result
            .unwrap_or_else(|| Err(io::Error::other("no zero-fill result")))
    }
}

fn panicked() -> io::Error {
    io::Error::other("the zero-fill thread panicked")
}

/// Writes `len` zeros to a new file at `path`, in synced chunks.
fn zero_fill(path: &Path, len: u64) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(ZERO_CHUNK_BYTES, |l| l.min(ZERO_CHUNK_BYTES));
        file.write_all(&zeros[..n])?;
        file.sync_data()?;
        left -= n as u64;
    }
    file.sync_all()
}
