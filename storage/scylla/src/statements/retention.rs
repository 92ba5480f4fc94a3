//! The statements of the retention walk ([`crate::retain`]).

use super::{Class, Def, def};

/// Phase 1, the first passes in token order: id and record (the event).
pub const RETAIN_PASSES_FIRST: Def = def(
    "retention: first passes",
    Class::Query,
    "SELECT DISTINCT id, record FROM passes LIMIT ?",
);
/// Phase 1, the passes after one in token order.
pub const RETAIN_PASSES_AFTER: Def = def(
    "retention: passes after",
    Class::Query,
    "SELECT DISTINCT id, record FROM passes WHERE token(id) > token(?) LIMIT ?",
);
/// A pass's rows of one section (1: scan log, 2: audit) made before a time.
pub const RETAIN_OLD_ROWS: Def = def(
    "retention: old rows of a pass",
    Class::Query,
    "SELECT at_ms, tag, body FROM passes WHERE id = ? AND section = ? AND at_ms < ? LIMIT ?",
);
/// Removes one row of a pass's log, if it is there: a LWT, as every write
/// of the partition's rows is (a plain delete's timestamp could lose to a
/// Paxos-written cell).
pub const RETAIN_DELETE_ROW: Def = def(
    "retention: delete a pass's log row",
    Class::Lwt,
    "DELETE FROM passes WHERE id = ? AND section = ? AND at_ms = ? AND tag = ? IF EXISTS",
);
/// Removes a scan's line of its event's log (a plain row).
pub const RETAIN_EVENT_SCAN_DELETE: Def = def(
    "retention: delete an event scan line",
    Class::Write,
    "DELETE FROM event_scans WHERE event = ? AND bucket = ? AND at_ms = ? AND scan_id = ?",
);
/// Removes an audit record's line of the global audit log (a plain row).
pub const RETAIN_AUDIT_LOG_DELETE: Def = def(
    "retention: delete an audit log line",
    Class::Write,
    "DELETE FROM audit_log WHERE bucket = ? AND at_ms = ? AND tag = ?",
);
/// Phase 2: a bucket's conflicts after a position and before a time.
pub const RETAIN_CONFLICTS: Def = def(
    "retention: conflicts of a bucket",
    Class::Query,
    "SELECT at_ms, tag, body FROM conflicts WHERE bucket = ? AND (at_ms, tag) > (?, ?) AND (at_ms, tag) < (?, ?) LIMIT ?",
);
/// Removes one conflict's row (a plain row).
pub const RETAIN_CONFLICT_DELETE: Def = def(
    "retention: delete a conflict",
    Class::Write,
    "DELETE FROM conflicts WHERE bucket = ? AND at_ms = ? AND tag = ?",
);

/// Every retention statement, for the tests.
#[cfg(test)]
pub const RETENTION: [Def; 8] = [
    RETAIN_PASSES_FIRST,
    RETAIN_PASSES_AFTER,
    RETAIN_OLD_ROWS,
    RETAIN_DELETE_ROW,
    RETAIN_EVENT_SCAN_DELETE,
    RETAIN_AUDIT_LOG_DELETE,
    RETAIN_CONFLICTS,
    RETAIN_CONFLICT_DELETE,
];
