//! Reading the journal: pages of records matching a [`JournalQuery`],
//! oldest first, each page bounded in lines and bytes, continued from a
//! byte-offset cursor.

use super::file::{Journal, JournalError};
use super::record::{LINE_MAX_BYTES, OperatorAction, OperatorRecord};
use scangate_storage::{Cursor, EXAMINE_MAX, PAGE_MAX, Page};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// Most bytes one page reads: bounds a request's time and I/O whatever the
/// filter (about 20 000 typical lines of ~250 bytes, 2 000 of the longest).
pub const PAGE_READ_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// A cursor is the byte offset of the next line, 8 bytes big-endian.
const CURSOR_BYTES: usize = 8;

/// Which records to read, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalQuery {
    /// Only this action.
    pub action: Option<OperatorAction>,
    /// Only this `who`.
    pub who: Option<String>,
    /// Only this `subject`.
    pub subject: Option<String>,
    /// Only records at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only records before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
    /// Most items, 1 to [`PAGE_MAX`] (larger is clamped).
    pub limit: usize,
}

impl JournalQuery {
    fn matches(&self, r: &OperatorRecord) -> bool {
        self.action.is_none_or(|a| a == r.action)
            && self.who.as_ref().is_none_or(|w| *w == r.who)
            && self.subject.as_ref().is_none_or(|s| *s == r.subject)
            && self.from_ms.is_none_or(|t| r.at_ms >= t)
            && self.until_ms.is_none_or(|t| r.at_ms < t)
    }
}

impl Journal {
    /// One page of records matching `q`. Lines that do not parse (a torn
    /// line after a crash, an over-long line) are skipped, not fatal; a
    /// last line without its newline is left for a later page. Blocking.
    pub fn read(&self, q: &JournalQuery) -> Result<Page<OperatorRecord>, JournalError> {
        let Some((file, len, start)) = self.open_at(q.after.as_ref())? else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        // Only what was there when the read began: appends during it wait
        // for the next page.
        let mut reader = BufReader::new(file.take(len - start));
        let scanned = self.scan(&mut reader, start, q)?;
        if scanned.skipped > 0 {
            tracing::warn!(
                file = %self.path().display(),
                skipped = scanned.skipped,
                "operator journal lines that do not parse were skipped"
            );
        }
        let next = (!scanned.at_end && scanned.pos < len)
            .then(|| Cursor(scanned.pos.to_be_bytes().to_vec()));
        Ok(Page {
            items: scanned.items,
            next,
        })
    }

    /// The file positioned at the cursor `after` (the start of a line of
    /// this file, or 0), with its length and that offset; `None` when no
    /// journal exists yet and the cursor is its start.
    fn open_at(&self, after: Option<&Cursor>) -> Result<Option<(File, u64, u64)>, JournalError> {
        let mut file = match File::open(self.path()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return if after.is_some_and(|c| offset(c) != Some(0)) {
                    Err(JournalError::BadCursor)
                } else {
                    Ok(None)
                };
            }
            Err(e) => return Err(self.io(e)),
        };
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        let start = match after {
            None => 0,
            Some(c) => offset(c).ok_or(JournalError::BadCursor)?,
        };
        if start > len {
            return Err(JournalError::BadCursor);
        }
        if start > 0 {
            let mut before = [0u8; 1];
            file.read_exact_at(&mut before, start - 1)
                .map_err(|e| self.io(e))?;
            if before[0] != b'\n' {
                return Err(JournalError::BadCursor);
            }
        }
        file.seek(SeekFrom::Start(start)).map_err(|e| self.io(e))?;
        Ok(Some((file, len, start)))
    }

    /// Reads lines from `reader` (at byte `start` of the file) until a page
    /// of `q` is full or a bound of one page is reached: [`EXAMINE_MAX`]
    /// lines, [`PAGE_READ_MAX_BYTES`] bytes.
    fn scan(
        &self,
        reader: &mut impl BufRead,
        start: u64,
        q: &JournalQuery,
    ) -> Result<Scanned, JournalError> {
        let limit = q.limit.clamp(1, PAGE_MAX);
        let (mut pos, mut items, mut examined, mut skipped) = (start, Vec::new(), 0usize, 0usize);
        let mut line = Vec::with_capacity(512);
        while items.len() < limit && examined < EXAMINE_MAX && pos - start < PAGE_READ_MAX_BYTES {
            line.clear();
            let n = (&mut *reader)
                .take(LINE_MAX_BYTES as u64)
                .read_until(b'\n', &mut line)
                .map_err(|e| self.io(e))?;
            if n == 0 {
                return Ok(Scanned::at_end(items, pos, skipped));
            }
            examined += 1;
            if line.last() != Some(&b'\n') {
                if n < LINE_MAX_BYTES {
                    // A torn last line (a crash mid-append), or one being
                    // written now: not consumed, nothing after it.
                    return Ok(Scanned::at_end(items, pos, skipped));
                }
                // An over-long line: skipped to its end without holding it.
                match skip_line(reader).map_err(|e| self.io(e))? {
                    Some(rest) => pos += (n + rest) as u64,
                    None => return Ok(Scanned::at_end(items, pos, skipped)),
                }
                skipped += 1;
                continue;
            }
            pos += n as u64;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<OperatorRecord>(&line) {
                Ok(r) if q.matches(&r) => items.push(r),
                Ok(_) => {}
                Err(_) => skipped += 1,
            }
        }
        Ok(Scanned {
            items,
            pos,
            at_end: false,
            skipped,
        })
    }
}

/// Where one page's read stopped.
struct Scanned {
    /// The matching records read.
    items: Vec<OperatorRecord>,
    /// The offset after the last line consumed.
    pos: u64,
    /// Nothing more to read now (the end, or a torn last line).
    at_end: bool,
    /// Lines that did not parse or were too long.
    skipped: usize,
}

impl Scanned {
    fn at_end(items: Vec<OperatorRecord>, pos: u64, skipped: usize) -> Scanned {
        Scanned {
            items,
            pos,
            at_end: true,
            skipped,
        }
    }
}

/// Consumes the rest of a line; the bytes consumed including the newline,
/// or `None` when the input ends first (a torn over-long last line).
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<Option<usize>> {
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            reader.consume(i + 1);
            return Ok(Some(consumed + i + 1));
        }
        let n = buf.len();
        consumed += n;
        reader.consume(n);
    }
}

fn offset(c: &Cursor) -> Option<u64> {
    let bytes: [u8; CURSOR_BYTES] = c.0.as_slice().try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}
