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
//! It also records every conflict an offline upload flagged (one line per
//! conflict, `who` = `device:` + the scanner's certificate name, action
//! `offline.conflict`, subject the scan id), so the journal alone shows
//! what offline scanners let through against a rule.
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
//! Reading: pages of at most [`PAGE_MAX`](scangate_storage::PAGE_MAX) records, oldest first, each page
//! examining at most [`EXAMINE_MAX`](scangate_storage::EXAMINE_MAX) lines and [`PAGE_READ_MAX_BYTES`]
//! bytes, continued from a byte-offset [`Cursor`](scangate_storage::Cursor), so a very large journal
//! is never loaded whole. The file is opened per append and per read, so an
//! operator may rotate it (rename it away) at any time; the next action
//! starts a new file (cursors into the old one are then refused or restart).
//!
//! Files: [`record`] (the line: actions, fields, bounds), [`file`](mod@file) (the
//! append-only writer), [`query`] (the paged reader), [`lock`] (the edit
//! lock of files the CLI and the gateway both change).

pub mod file;
pub mod lock;
pub mod query;
pub mod record;
#[cfg(test)]
mod tests;

pub use file::{Journal, JournalError, append_all_async, append_async};
pub use lock::{EditLock, LockError};
pub use query::{JournalQuery, PAGE_READ_MAX_BYTES};
pub use record::{
    CLI_USER_MAX_BYTES, DETAIL_MAX_BYTES, LINE_MAX_BYTES, OperatorAction, OperatorRecord,
    REASON_MAX_BYTES, SUBJECT_MAX_BYTES, WHO_MAX_BYTES, cli_who,
};
