//! The operator journal: `DATA/operator-audit.jsonl`, one JSON line per
//! admin action, append-only, written by the gateway (admin API actions,
//! `who` = the admin token's name) and by the CLI (`scangate token ...`,
//! `scangate certs revoke`, `who` = `cli:` + the OS user), read by
//! `GET /v1/audit/operator` and `scangate audit operator`.
//!
//! It records every admin action, one line per request (never one per
//! pass): issuing and importing passes (the event, the count, the first and
//! last pass id), token create and revoke, device revocation, and, so the
//! journal alone answers "who did what today", pass status changes and
//! annulments too (whose authoritative per-pass record stays the store's
//! [`scangate_core::AuditRecord`], written atomically with the change).
//! It never holds a token, a pass token, a display payload or anything else
//! about a person: only names of tokens, devices and events, pass and scan
//! ids, counts and the operator's reason.
//!
//! Writing: each line is one `write` on a file opened with `O_APPEND` (so
//! the gateway and a CLI run never interleave within a line), then
//! `fdatasync`, before the action is answered or the command reports
//! success. A crash can leave a torn last line; the next append starts on a
//! fresh line, and readers skip lines that do not parse.
//!
//! Reading: pages of at most [`PAGE_MAX`] records, oldest first, each page
//! examining at most [`EXAMINE_MAX`] lines and [`PAGE_READ_MAX_BYTES`]
//! bytes, continued from a byte-offset [`Cursor`], so a very large journal
//! is never loaded whole. The file is opened per append and per read, so an
//! operator may rotate it (rename it away) at any time; the next action
//! starts a new file (cursors into the old one are then refused or restart).

use scangate_storage::{Cursor, EXAMINE_MAX, PAGE_MAX, Page};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Longest journal line, bytes, newline included: a record's fields are
/// clamped below this ([`WHO_MAX_BYTES`], [`SUBJECT_MAX_BYTES`],
/// [`REASON_MAX_BYTES`], [`DETAIL_MAX_BYTES`] plus two pass ids and
/// JSON escaping), and a reader skips any longer line without holding it.
pub const LINE_MAX_BYTES: usize = 4096;
/// Longest `who`, bytes: a token name is at most 64 bytes, `cli:` + a user
/// name at most 4 + [`CLI_USER_MAX_BYTES`].
pub const WHO_MAX_BYTES: usize = 80;
/// Longest OS user name kept in a CLI `who`.
pub const CLI_USER_MAX_BYTES: usize = 32;
/// Longest `subject`, bytes: a name, an id, or a few event names.
pub const SUBJECT_MAX_BYTES: usize = 256;
/// Longest `reason`, bytes: the same bound as a pass's status reason.
pub const REASON_MAX_BYTES: usize = scangate_core::pass::REASON_MAX_BYTES;
/// Longest `detail`, bytes.
pub const DETAIL_MAX_BYTES: usize = 512;
/// Most bytes one page reads: bounds a request's time and I/O whatever the
/// filter (about 20 000 typical lines of ~250 bytes, 2 000 of the longest).
pub const PAGE_READ_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// A cursor is the byte offset of the next line, 8 bytes big-endian.
const CURSOR_BYTES: usize = 8;

/// What an admin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum OperatorAction {
    /// Issued passes (`POST /v1/passes`).
    #[serde(rename = "passes.issue")]
    PassesIssue,
    /// Imported passes from CSV (`POST /v1/passes/import`).
    #[serde(rename = "passes.import")]
    PassesImport,
    /// Revoked a pass.
    #[serde(rename = "pass.revoke")]
    PassRevoke,
    /// Suspended a pass.
    #[serde(rename = "pass.suspend")]
    PassSuspend,
    /// Reactivated a pass.
    #[serde(rename = "pass.reactivate")]
    PassReactivate,
    /// Annulled a granted scan.
    #[serde(rename = "scan.annul")]
    ScanAnnul,
    /// Created an admin token (`scangate token create`).
    #[serde(rename = "token.create")]
    TokenCreate,
    /// Revoked an admin token (`scangate token revoke`).
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// Revoked a scanner device (API or `scangate certs revoke`).
    #[serde(rename = "device.revoke")]
    DeviceRevoke,
}

impl OperatorAction {
    /// Every action.
    pub const ALL: [OperatorAction; 9] = [
        OperatorAction::PassesIssue,
        OperatorAction::PassesImport,
        OperatorAction::PassRevoke,
        OperatorAction::PassSuspend,
        OperatorAction::PassReactivate,
        OperatorAction::ScanAnnul,
        OperatorAction::TokenCreate,
        OperatorAction::TokenRevoke,
        OperatorAction::DeviceRevoke,
    ];

    /// The spelling, e.g. `token.create`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::PassesIssue => "passes.issue",
            OperatorAction::PassesImport => "passes.import",
            OperatorAction::PassRevoke => "pass.revoke",
            OperatorAction::PassSuspend => "pass.suspend",
            OperatorAction::PassReactivate => "pass.reactivate",
            OperatorAction::ScanAnnul => "scan.annul",
            OperatorAction::TokenCreate => "token.create",
            OperatorAction::TokenRevoke => "token.revoke",
            OperatorAction::DeviceRevoke => "device.revoke",
        }
    }
}

impl std::str::FromStr for OperatorAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OperatorAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<_> = OperatorAction::ALL.iter().map(|a| a.as_str()).collect();
                format!("unknown action {s:?}: expected one of {}", all.join(", "))
            })
    }
}

/// One admin action: one line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorRecord {
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// Who: the admin token's name, or `cli:USER` for a command run on the
    /// gateway's machine.
    pub who: String,
    /// What.
    pub action: OperatorAction,
    /// What it was done to: a token or device name, a pass or scan id, or
    /// for an issue or import the event (`"a, b"` when several).
    pub subject: String,
    /// How many passes an issue or import created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The first pass id an issue or import created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_pass: Option<String>,
    /// The last pass id an issue or import created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<String>,
    /// Why, in the operator's words, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// More about it: a token's role, an import's rejected lines, the pass
    /// an annulled scan belonged to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl OperatorRecord {
    /// A record with no count, passes, reason or detail.
    pub fn new(
        at_ms: i64,
        who: impl Into<String>,
        action: OperatorAction,
        subject: impl Into<String>,
    ) -> Self {
        OperatorRecord {
            at_ms,
            who: who.into(),
            action,
            subject: subject.into(),
            count: None,
            first_pass: None,
            last_pass: None,
            reason: None,
            detail: None,
        }
    }

    /// With a reason (`None` or blank: none).
    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        self
    }

    /// With a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// An issue or import of `ids` (in issue order) for `events`.
    pub fn passes<'a>(
        at_ms: i64,
        who: impl Into<String>,
        action: OperatorAction,
        events: impl IntoIterator<Item = &'a str>,
        ids: &[scangate_core::PassId],
    ) -> Self {
        let mut distinct: Vec<&str> = Vec::new();
        for e in events {
            if !distinct.contains(&e) {
                distinct.push(e);
            }
            if distinct.len() > 8 {
                break;
            }
        }
        let mut subject = distinct.join(", ");
        if distinct.len() > 8 {
            subject = format!("{}, ...", distinct[..8].join(", "));
        }
        let mut r = OperatorRecord::new(at_ms, who, action, subject);
        r.count = Some(ids.len() as u64);
        r.first_pass = ids.first().map(ToString::to_string);
        r.last_pass = ids.last().map(ToString::to_string);
        r
    }

    /// Every field within its bound (cut at a character boundary).
    fn clamped(mut self) -> Self {
        clamp(&mut self.who, WHO_MAX_BYTES);
        clamp(&mut self.subject, SUBJECT_MAX_BYTES);
        for (field, max) in [
            (&mut self.first_pass, 64),
            (&mut self.last_pass, 64),
            (&mut self.reason, REASON_MAX_BYTES),
            (&mut self.detail, DETAIL_MAX_BYTES),
        ] {
            if let Some(s) = field {
                clamp(s, max);
            }
        }
        self
    }
}

fn clamp(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// The `who` of a CLI action: `cli:` + `$USER` (letters, digits, `.`, `_`,
/// `-`, at most [`CLI_USER_MAX_BYTES`]), or `cli:uid-N` without one. It is
/// as trustworthy as the OS account that may write the data directory.
pub fn cli_who() -> String {
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() && u.len() <= CLI_USER_MAX_BYTES && u.bytes().all(ok) => {
            format!("cli:{u}")
        }
        _ => {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata("/proc/self") {
                Ok(m) => format!("cli:uid-{}", m.uid()),
                Err(_) => "cli:unknown".to_owned(),
            }
        }
    }
}

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

    fn io(&self, source: std::io::Error) -> JournalError {
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
        let mut line = self.line(record)?;
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

    /// One page of records matching `q`. Lines that do not parse (a torn
    /// line after a crash, an over-long line) are skipped, not fatal; a
    /// last line without its newline is left for a later page. Blocking.
    pub fn read(&self, q: &JournalQuery) -> Result<Page<OperatorRecord>, JournalError> {
        let limit = q.limit.clamp(1, PAGE_MAX);
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return if q.after.as_ref().is_some_and(|c| offset(c) != Some(0)) {
                    Err(JournalError::BadCursor)
                } else {
                    Ok(Page {
                        items: Vec::new(),
                        next: None,
                    })
                };
            }
            Err(e) => return Err(self.io(e)),
        };
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        let start = match &q.after {
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
        // Only what was there when the read began: appends during it wait
        // for the next page.
        let mut reader = BufReader::new(file.take(len - start));
        let (mut pos, mut items, mut examined, mut skipped) = (start, Vec::new(), 0usize, 0usize);
        let mut line = Vec::with_capacity(512);
        let mut at_end = false;
        while items.len() < limit && examined < EXAMINE_MAX && pos - start < PAGE_READ_MAX_BYTES {
            line.clear();
            let n = (&mut reader)
                .take(LINE_MAX_BYTES as u64)
                .read_until(b'\n', &mut line)
                .map_err(|e| self.io(e))?;
            if n == 0 {
                at_end = true;
                break;
            }
            if line.last() != Some(&b'\n') {
                if n < LINE_MAX_BYTES {
                    // A torn last line (a crash mid-append), or one being
                    // written now: not consumed, nothing after it.
                    at_end = true;
                    break;
                }
                // An over-long line: skipped to its end without holding it.
                match skip_line(&mut reader).map_err(|e| self.io(e))? {
                    Some(rest) => pos += (n + rest) as u64,
                    None => {
                        at_end = true;
                        break;
                    }
                }
                examined += 1;
                skipped += 1;
                continue;
            }
            pos += n as u64;
            examined += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<OperatorRecord>(&line) {
                Ok(r) if q.matches(&r) => items.push(r),
                Ok(_) => {}
                Err(_) => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(
                file = %self.path.display(),
                skipped,
                "operator journal lines that do not parse were skipped"
            );
        }
        let next = (!at_end && pos < len).then(|| Cursor(pos.to_be_bytes().to_vec()));
        Ok(Page { items, next })
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

/// Appends `record` to `journal` off the async runtime.
pub async fn append_async(journal: Journal, record: OperatorRecord) -> Result<(), JournalError> {
    tokio::task::spawn_blocking(move || journal.append(&record))
        .await
        .unwrap_or_else(|e| {
            Err(JournalError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            })
        })
}

/// Holds an exclusive advisory lock on `FILE.lock` beside `file` while it
/// lives: the read-modify-write edits of `admin-tokens.json` and
/// `revoked-devices.json` (by the CLI and by a running gateway at once) and
/// their journal lines happen one at a time, in the same order.
pub struct EditLock(File);

/// The edit lock of a file could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("cannot lock {} for editing", .file.display())]
pub struct LockError {
    /// The file to be edited.
    pub file: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

impl EditLock {
    /// Waits for the lock of `file`.
    pub fn acquire(file: &Path) -> Result<EditLock, LockError> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let locked = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(PathBuf::from(name))
            .and_then(|f| f.lock().map(|()| EditLock(f)));
        locked.map_err(|source| LockError {
            file: file.to_owned(),
            source,
        })
    }
}

impl Drop for EditLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at_ms: i64, action: OperatorAction, subject: &str) -> OperatorRecord {
        OperatorRecord::new(at_ms, "lead", action, subject)
    }

    fn all(j: &Journal, mut q: JournalQuery) -> Vec<OperatorRecord> {
        let mut out = Vec::new();
        for _ in 0..1000 {
            let page = j.read(&q).expect("read");
            out.extend(page.items);
            match page.next {
                Some(c) => q.after = Some(c),
                None => return out,
            }
        }
        panic!("no end");
    }

    fn q(limit: usize) -> JournalQuery {
        JournalQuery {
            limit,
            ..JournalQuery::default()
        }
    }

    #[test]
    fn appends_and_pages_through_with_the_cursor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::new(dir.path().join("operator-audit.jsonl"));
        assert_eq!(j.read(&q(10)).expect("empty").items, vec![]);
        let written: Vec<_> = (0..7)
            .map(|i| rec(i, OperatorAction::TokenCreate, &format!("t{i}")))
            .collect();
        for r in &written {
            j.append(r).expect("append");
        }
        let first = j.read(&q(3)).expect("page");
        assert_eq!(first.items, written[..3]);
        let next = first.next.expect("more");
        let second = j
            .read(&JournalQuery {
                after: Some(next),
                ..q(3)
            })
            .expect("page");
        assert_eq!(second.items, written[3..6]);
        assert_eq!(all(&j, q(2)), written);
        let last = j
            .read(&JournalQuery {
                after: second.next,
                ..q(3)
            })
            .expect("page");
        assert_eq!(last.items, written[6..]);
        assert_eq!(last.next, None, "the end");
        // A cursor that is not a line start, or past the end, is refused.
        for bad in [vec![0, 0, 0, 0, 0, 0, 0, 5], vec![0xff; 8], vec![1, 2]] {
            let got = j.read(&JournalQuery {
                after: Some(Cursor(bad)),
                ..q(3)
            });
            assert!(matches!(got, Err(JournalError::BadCursor)), "{got:?}");
        }
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(j.path()).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn filters_by_action_who_subject_and_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::new(dir.path().join("j.jsonl"));
        j.append(&rec(10, OperatorAction::PassesIssue, "fest"))
            .expect("a");
        j.append(&OperatorRecord::new(
            20,
            "cli:ada",
            OperatorAction::TokenRevoke,
            "gate-lead",
        ))
        .expect("b");
        j.append(&rec(30, OperatorAction::DeviceRevoke, "lost-phone"))
            .expect("c");
        j.append(&rec(40, OperatorAction::TokenRevoke, "other"))
            .expect("d");
        let subjects = |q: JournalQuery| -> Vec<String> {
            all(&j, q).into_iter().map(|r| r.subject).collect()
        };
        assert_eq!(
            subjects(JournalQuery {
                action: Some(OperatorAction::TokenRevoke),
                ..q(10)
            }),
            ["gate-lead", "other"]
        );
        assert_eq!(
            subjects(JournalQuery {
                who: Some("cli:ada".into()),
                ..q(10)
            }),
            ["gate-lead"]
        );
        assert_eq!(
            subjects(JournalQuery {
                subject: Some("lost-phone".into()),
                ..q(10)
            }),
            ["lost-phone"]
        );
        assert_eq!(
            subjects(JournalQuery {
                from_ms: Some(20),
                until_ms: Some(40),
                ..q(1)
            }),
            ["gate-lead", "lost-phone"]
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_next_append_starts_fresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::new(dir.path().join("j.jsonl"));
        j.append(&rec(1, OperatorAction::TokenCreate, "a"))
            .expect("a");
        // A crash mid-append: half a line, no newline.
        let mut f = OpenOptions::new()
            .append(true)
            .open(j.path())
            .expect("open");
        f.write_all(br#"{"at_ms":2,"who":"lead","act"#)
            .expect("torn");
        drop(f);
        let page = j.read(&q(10)).expect("read");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.next, None, "nothing more to read");
        j.append(&rec(3, OperatorAction::TokenRevoke, "a"))
            .expect("after the crash");
        let got = all(&j, q(10));
        assert_eq!(
            got.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
            [1, 3],
            "the torn line is skipped, the next one is whole"
        );
    }

    #[test]
    fn lines_are_capped_and_over_long_lines_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::new(dir.path().join("j.jsonl"));
        let huge = "é".repeat(10_000);
        let r = rec(1, OperatorAction::DeviceRevoke, &huge)
            .reason(Some(&huge))
            .detail(huge.clone());
        j.append(&r).expect("append");
        let text = std::fs::read_to_string(j.path()).expect("read");
        assert!(text.len() <= LINE_MAX_BYTES, "{}", text.len());
        let back = all(&j, q(10));
        assert_eq!(back[0].subject.len(), SUBJECT_MAX_BYTES);
        assert!(back[0].reason.as_ref().expect("reason").len() <= REASON_MAX_BYTES);
        // JSON escaping cannot push a line over the cap either.
        let control = "\u{1}".repeat(4096);
        j.append(
            &rec(1, OperatorAction::DeviceRevoke, "x")
                .reason(Some(&control))
                .detail(control.clone()),
        )
        .expect("append");
        for l in std::fs::read_to_string(j.path()).expect("read").lines() {
            assert!(l.len() < LINE_MAX_BYTES, "{}", l.len());
        }
        // Someone else's over-long garbage line does not stop the reader.
        let mut f = OpenOptions::new()
            .append(true)
            .open(j.path())
            .expect("open");
        f.write_all(&vec![b'x'; 3 * LINE_MAX_BYTES]).expect("junk");
        f.write_all(b"\nnot json\n\n").expect("junk");
        drop(f);
        j.append(&rec(2, OperatorAction::TokenCreate, "b"))
            .expect("append");
        let got = all(&j, q(1));
        assert_eq!(got.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [1, 1, 2]);
    }

    #[test]
    fn concurrent_appenders_never_interleave_within_a_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::new(dir.path().join("j.jsonl"));
        std::thread::scope(|s| {
            for t in 0..4 {
                let j = j.clone();
                s.spawn(move || {
                    for i in 0..50 {
                        let r = rec(t * 1000 + i, OperatorAction::TokenCreate, &"s".repeat(200));
                        j.append(&r).expect("append");
                    }
                });
            }
        });
        let mut got: Vec<i64> = all(&j, q(7)).iter().map(|r| r.at_ms).collect();
        got.sort_unstable();
        let want: Vec<i64> = (0..4)
            .flat_map(|t| (0..50).map(move |i| t * 1000 + i))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn batches_name_events_count_and_first_and_last_pass() {
        let ids: Vec<_> = (1u8..=3).map(|i| scangate_core::PassId([i; 16])).collect();
        let r = OperatorRecord::passes(
            5,
            "lead",
            OperatorAction::PassesIssue,
            ["fest", "fest", "expo"],
            &ids,
        );
        assert_eq!(r.subject, "fest, expo");
        assert_eq!(r.count, Some(3));
        assert_eq!(r.first_pass.as_deref(), Some(&*ids[0].to_string()));
        assert_eq!(r.last_pass.as_deref(), Some(&*ids[2].to_string()));
        let many: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
        let r = OperatorRecord::passes(
            5,
            "lead",
            OperatorAction::PassesImport,
            many.iter().map(String::as_str),
            &ids,
        );
        assert!(r.subject.ends_with(", ...") && r.subject.starts_with("e0, e1"));
    }

    #[test]
    fn actions_round_trip_and_the_cli_who_is_safe() {
        for a in OperatorAction::ALL {
            assert_eq!(a.as_str().parse::<OperatorAction>(), Ok(a));
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert!("token.eat".parse::<OperatorAction>().is_err());
        let who = cli_who();
        assert!(
            who.starts_with("cli:") && who.len() <= WHO_MAX_BYTES,
            "{who}"
        );
    }
}
