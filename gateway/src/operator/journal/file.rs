//! The journal file and its append-only writer: one `write` of one whole
//! line on a file opened with `O_APPEND`, then `fdatasync`.

use super::record::{LINE_MAX_BYTES, OperatorRecord, clamp};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why the journal could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be opened, written, synced or read.
    #[error("operator journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The cursor is not the start of a line of this journal.
    #[error("not a cursor from a previous page of the operator journal")]
    BadCursor,
}

/// The journal file of one data directory.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The journal at `path` (created by the first append).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Journal { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// `record` as one line of at most [`LINE_MAX_BYTES`], newline
    /// included: its fields clamped, and the free-text ones cut further in
    /// the rare case JSON escaping still makes it too long.
    fn line(&self, record: &OperatorRecord) -> Result<Vec<u8>, JournalError> {
        let mut record = record.clone().clamped();
        loop {
            let mut line = serde_json::to_vec(&record)
                .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
            line.push(b'\n');
            if line.len() <= LINE_MAX_BYTES {
                return Ok(line);
            }
            for s in [&mut record.reason, &mut record.detail]
                .into_iter()
                .flatten()
            {
                let half = s.len() / 2;
                clamp(s, half);
            }
            let half = record.subject.len() / 2;
            clamp(&mut record.subject, half);
        }
    }

    /// Appends `record` (its fields clamped to their bounds) as one line and
    /// syncs it to disk. Blocking: call it off the async runtime.
    pub fn append(&self, record: &OperatorRecord) -> Result<(), JournalError> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends `records`, one line each, in one `write` and one sync: the
    /// lines of one offline upload's conflicts cost one `fdatasync`.
    /// Blocking: call it off the async runtime.
    pub fn append_all(&self, records: &[OperatorRecord]) -> Result<(), JournalError> {
        let mut line = Vec::with_capacity(records.len() * 256);
        for record in records {
            line.extend(self.line(record)?);
        }
        if line.is_empty() {
            return Ok(());
        }
        let (file, created) = match OpenOptions::new().read(true).append(true).open(&self.path) {
            Ok(f) => (f, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let f = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(&self.path)
                    .map_err(|e| self.io(e))?;
                (f, true)
            }
            Err(e) => return Err(self.io(e)),
        };
        // A torn last line (a crash mid-append) must not swallow this one.
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.read_exact_at(&mut last, len - 1)
                .map_err(|e| self.io(e))?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        (&file).write_all(&line).map_err(|e| self.io(e))?;
        file.sync_data().map_err(|e| self.io(e))?;
        if created && let Some(dir) = self.path.parent() {
            // The new file's name must survive a crash too.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}

/// Appends `record` to `journal` off the async runtime.
pub async fn append_async(journal: Journal, record: OperatorRecord) -> Result<(), JournalError> {
    append_all_async(journal, vec![record]).await
}

/// Appends `records` to `journal` ([`Journal::append_all`]) off the async runtime.
pub async fn append_all_async(
    journal: Journal,
    records: Vec<OperatorRecord>,
) -> Result<(), JournalError> {
    tokio::task::spawn_blocking(move || journal.append_all(&records))
        .await
        .unwrap_or_else(|e| {
            Err(JournalError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            })
        })
}
