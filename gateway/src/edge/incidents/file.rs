//! The incident log on disk: `DATA/incidents.jsonl`, one JSON line per
//! incident, appended by a thread of its own so the edge never waits on a
//! disk, and rewritten whole (temporary file, `fsync`, rename) when the
//! retention sweep removes incidents or the file has grown to
//! [`FILE_LINES_MAX`] lines.
//!
//! A rewritten file starts with a mark, `{"next_seq": N}`, so numbering
//! goes on after every incident has expired.
//!
//! Reading at start: at most the last [`FILE_READ_MAX_BYTES`] of the file,
//! lines longer than [`LINE_MAX_BYTES`] or that do not parse skipped (a torn
//! last line after a crash), the last [`INCIDENTS_MAX`] kept.

use super::{INCIDENTS_MAX, Incident};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

/// Longest line kept, newline included: an incident is a device name, a
/// gate name (each at most a few dozen bytes), a reason, 8 hex digits and
/// a flag, about 200 bytes; 1 KiB leaves room and bounds what a damaged
/// file can make the loader hold per line.
pub const LINE_MAX_BYTES: usize = 1024;

/// Lines the file may reach before it is rewritten with the incidents in
/// memory (at most [`INCIDENTS_MAX`]): twice the log, so a rewrite (about
/// 2 MB) comes at most once per [`INCIDENTS_MAX`] incidents.
pub const FILE_LINES_MAX: usize = 2 * INCIDENTS_MAX;

/// Most bytes read at start, from the end of the file: a file within
/// [`FILE_LINES_MAX`] lines of [`LINE_MAX_BYTES`] fits; a larger one (grown
/// while rewrites failed) is read from its tail.
pub const FILE_READ_MAX_BYTES: u64 = (FILE_LINES_MAX * LINE_MAX_BYTES) as u64;

/// Messages queued for the disk thread: a forged-token flood from every
/// device at once (each logs at most 32 a minute) fits; past it an incident
/// stays in memory only (`scangate_incidents_unsaved_total`).
pub const QUEUE_CAPACITY: usize = 1024;

/// What the disk thread is asked to do.
pub(super) enum ToDisk {
    /// Append one incident.
    Append(Incident),
    /// Replace the file with these incidents (everything queued before is
    /// in them or was removed on purpose), after a line that keeps the
    /// next `seq`.
    Rewrite {
        /// The incidents in memory, oldest first.
        all: Vec<Incident>,
        /// The `seq` the next incident gets.
        next_seq: u64,
    },
    /// Answer once everything queued before is written and synced.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Why the incident log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("incident log {path}: {source}")]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

/// The first line of a rewritten file: the `seq` the next incident gets,
/// so numbering goes on when every incident has expired.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Mark {
    next_seq: u64,
}

/// The incidents kept in the file (the last [`INCIDENTS_MAX`]), how many
/// lines it holds (good or not) and how many of them are marks.
pub(super) struct Loaded {
    pub entries: VecDeque<Incident>,
    pub lines: usize,
    pub marks: usize,
    /// The largest `next_seq` of a mark (0: none).
    pub next_seq: u64,
}

/// Reads the file at `path` (missing: empty).
pub(super) fn load(path: &Path) -> Result<Loaded, FileError> {
    let failed = |source| FileError {
        path: path.to_owned(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                entries: VecDeque::new(),
                lines: 0,
                marks: 0,
                next_seq: 0,
            });
        }
        Err(e) => return Err(failed(e)),
    };
    let len = file.metadata().map_err(failed)?.len();
    let skip_first = len > FILE_READ_MAX_BYTES;
    if skip_first {
        file.seek(SeekFrom::Start(len - FILE_READ_MAX_BYTES))
            .map_err(failed)?;
    }
    let mut reader = BufReader::new(file.take(FILE_READ_MAX_BYTES));
    let mut out = Loaded {
        entries: VecDeque::with_capacity(INCIDENTS_MAX.min(1024)),
        lines: 0,
        marks: 0,
        next_seq: 0,
    };
    let mut line = Vec::with_capacity(LINE_MAX_BYTES);
    loop {
        line.clear();
        let n = (&mut reader)
            .take(LINE_MAX_BYTES as u64)
            .read_until(b'\n', &mut line)
            .map_err(failed)?;
        if n == 0 {
            break;
        }
        out.lines += 1;
        if line.last() != Some(&b'\n') {
            // Longer than a line may be (or the torn end): skip to its end.
            skip_line(&mut reader).map_err(failed)?;
            continue;
        }
        if skip_first && out.lines == 1 {
            continue; // began mid-line
        }
        out.take(&line);
    }
    Ok(out)
}

impl Loaded {
    /// Keeps one line: an incident (the last [`INCIDENTS_MAX`]) or a mark;
    /// anything else is left out.
    fn take(&mut self, line: &[u8]) {
        if let Ok(incident) = serde_json::from_slice::<Incident>(line) {
            if self.entries.len() == INCIDENTS_MAX {
                self.entries.pop_front();
            }
            self.entries.push_back(incident);
        } else if let Ok(mark) = serde_json::from_slice::<Mark>(line) {
            self.marks += 1;
            self.next_seq = self.next_seq.max(mark.next_seq);
        }
    }
}

/// Consumes the rest of a line without holding it.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// Opens (creating, 0600) the file at `path` for appending.
fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Starts the disk thread for the file at `path`; it ends when every
/// sender is dropped.
pub(super) fn spawn(path: PathBuf) -> Result<SyncSender<ToDisk>, FileError> {
    let file = open_append(&path).map_err(|source| FileError {
        path: path.clone(),
        source,
    })?;
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
    std::thread::Builder::new()
        .name("incident-log".into())
        .spawn(move || Writer { path, file }.run(rx))
        .map_err(|source| FileError {
            path: PathBuf::from("incident-log thread"),
            source,
        })?;
    Ok(tx)
}

struct Writer {
    path: PathBuf,
    file: File,
}

impl Writer {
    /// Takes what is queued (at most [`QUEUE_CAPACITY`] at a time), writes
    /// the appends after the last rewrite as one write, syncs, then answers
    /// the flushes.
    fn run(mut self, rx: Receiver<ToDisk>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(QUEUE_CAPACITY));
            let mut lines = Vec::new();
            let mut flushes = Vec::new();
            for msg in batch {
                match msg {
                    ToDisk::Append(i) => push_line(&mut lines, &i),
                    ToDisk::Rewrite { all, next_seq } => {
                        // Appends queued before it are in `all` (or removed).
                        lines.clear();
                        if let Err(e) = self.rewrite(&all, next_seq) {
                            tracing::warn!(path = %self.path.display(), error = %e, "cannot rewrite the incident log");
                        }
                    }
                    ToDisk::Flush(done) => flushes.push(done),
                }
            }
            if !lines.is_empty()
                && let Err(e) = self
                    .file
                    .write_all(&lines)
                    .and_then(|()| self.file.sync_data())
            {
                metrics::counter!("scangate_incidents_unsaved_total").increment(1);
                tracing::warn!(path = %self.path.display(), error = %e, "cannot append to the incident log");
            }
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    /// Replaces the file with `all`: a temporary file beside it, synced,
    /// renamed over it, the directory synced; appends go to the new file.
    fn rewrite(&mut self, all: &[Incident], next_seq: u64) -> std::io::Result<()> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut out = serde_json::to_vec(&Mark { next_seq }).map_err(std::io::Error::other)?;
        out.push(b'\n');
        out.reserve(all.len() * 200);
        for i in all {
            push_line(&mut out, i);
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

/// `incident` as one JSON line, unless it would be longer than a line may be.
fn push_line(out: &mut Vec<u8>, incident: &Incident) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, incident).is_err() || out.len() - start >= LINE_MAX_BYTES {
        out.truncate(start);
        return;
    }
    out.push(b'\n');
}
