//! Every CQL statement the backend runs, as data: its text and its class.
//! The class decides the execution profile (consistency, serial consistency,
//! deadline, retry policy) and the idempotence flag, so each statement's
//! settings are checked by unit tests without a cluster.
//!
//! LWTs (and every statement of a conditional batch) are non-idempotent and
//! never retried by the driver: an unknown outcome is resolved by a serial
//! read, see [`super::outcome`]. The profiles of the classes are in
//! `profiles`; preparing every statement at start is `prepared`.

/// How a statement is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A lightweight transaction, or a statement of a conditional batch:
    /// Paxos at the serial consistency, learned at the write consistency,
    /// non-idempotent, never retried.
    Lwt,
    /// A read at the serial consistency: linearizable with the LWTs, and it
    /// completes any in-progress Paxos round it finds.
    SerialRead,
    /// A hot-path read at the write consistency.
    Read,
    /// A plain, idempotent write at the write consistency (log lines and
    /// indexes, never a cell a LWT touches).
    Write,
    /// A paged operator query at the write consistency.
    Query,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 5] = [
        Class::Lwt,
        Class::SerialRead,
        Class::Read,
        Class::Write,
        Class::Query,
    ];

    /// Whether the driver may send it twice (retry, speculation).
    pub fn idempotent(self) -> bool {
        !matches!(self, Class::Lwt)
    }
}

/// One statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    /// For error messages.
    pub name: &'static str,
    /// The CQL, on tables of the session's keyspace.
    pub cql: &'static str,
    /// How it runs.
    pub class: Class,
}

const fn def(name: &'static str, class: Class, cql: &'static str) -> Def {
    Def { name, cql, class }
}

#[cfg(test)]
mod all;
mod retention;

#[cfg(test)]
pub use all::ALL;
pub use retention::*;

/// Claims a scan id for a pass, for the retry window.
pub const CLAIM: Def = def(
    "claim scan id",
    Class::Lwt,
    "INSERT INTO scan_ids (scan_id, pass_id, at_ms, body) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?",
);
/// A grant's state change: the first statement of the grant batch.
pub const GRANT_STATE: Def = def(
    "grant: use count",
    Class::Lwt,
    "UPDATE passes SET uses = ? WHERE id = ? IF uses = ? AND status = 'active' AND use_limit >= ?",
);
/// An entry or exit at a gate of a defined event: the count and presence,
/// if the count, status and presence are as decided (`use_limit >= ?` is
/// bound to 0 when the movement spends no use). The first statement of the
/// move batch.
pub const MOVE_STATE: Def = def(
    "move: use count and presence",
    Class::Lwt,
    "UPDATE passes SET uses = ?, presence = ? WHERE id = ? IF uses = ? AND status = 'active' AND use_limit >= ? AND presence = ?",
);
/// Stores an event's definition.
pub const EVENT_PUT: Def = def(
    "put event definition",
    Class::Write,
    "INSERT INTO events (event, body) VALUES (?, ?)",
);
/// One event's definition.
pub const EVENT_GET: Def = def(
    "get event definition",
    Class::Read,
    "SELECT body FROM events WHERE event = ?",
);
/// Every event's definition, bounded.
pub const EVENTS_ALL: Def = def(
    "all event definitions",
    Class::Query,
    "SELECT event, body FROM events LIMIT ?",
);
/// An offline fact's count: conditional on the count alone (a fact is
/// counted whatever the status and limit): the first statement of the
/// offline grant batch.
pub const OFFLINE_GRANT_STATE: Def = def(
    "offline grant: use count",
    Class::Lwt,
    "UPDATE passes SET uses = ? WHERE id = ? IF uses = ?",
);
/// A guard override's count: conditional on the count and an active
/// status, not on the limit (an override may admit a used-up pass): the
/// first statement of the override batch.
pub const OVERRIDE_GRANT_STATE: Def = def(
    "override grant: use count",
    Class::Lwt,
    "UPDATE passes SET uses = ? WHERE id = ? IF uses = ? AND status = 'active'",
);
/// A conflict's row in the time-bucketed index (tag: scan id ‖ kind, so a
/// re-upload rewrites the same row).
pub const CONFLICT_ROW: Def = def(
    "conflict row",
    Class::Write,
    "INSERT INTO conflicts (bucket, at_ms, tag, body) VALUES (?, ?, ?, ?)",
);
/// A pass's holder link (static, beside its state), over any earlier one,
/// if the pass exists and is not erased: ordered by Paxos with the erase
/// that clears it, so no link outlives an erase on any gateway.
pub const HOLDER_LINK_SET: Def = def(
    "holder link",
    Class::Lwt,
    "UPDATE passes SET holder_link = ? WHERE id = ? IF use_limit != null AND erased_ms = null",
);
/// Clears a pass's holder link (if the pass exists).
pub const HOLDER_LINK_CLEAR: Def = def(
    "clear holder link",
    Class::Lwt,
    "UPDATE passes SET holder_link = null WHERE id = ? IF use_limit != null",
);
/// A pass's holder link.
pub const HOLDER_LINK_READ: Def = def(
    "read holder link",
    Class::Read,
    "SELECT holder_link FROM passes WHERE id = ? LIMIT 1",
);
/// A link made under schema 4, in the `holder_links` table (read when the
/// pass has none beside its state; no longer written).
pub const LEGACY_LINK_READ: Def = def(
    "read schema-4 holder link",
    Class::Read,
    "SELECT link FROM holder_links WHERE pass_id = ?",
);
/// Removes a link made under schema 4 (a new link, a removal, an erase).
pub const LEGACY_LINK_DELETE: Def = def(
    "remove schema-4 holder link",
    Class::Write,
    "DELETE FROM holder_links WHERE pass_id = ?",
);
/// A range of one conflicts bucket.
pub const CONFLICTS_RANGE: Def = def(
    "conflicts range",
    Class::Query,
    "SELECT at_ms, tag, body FROM conflicts WHERE bucket = ? AND (at_ms, tag) >= (?, ?) AND (at_ms, tag) < (?, ?)",
);
/// A scan's scan-id row in its pass's partition, only if absent.
pub const SCAN_ID_ROW: Def = def(
    "scan: scan-id row",
    Class::Lwt,
    "INSERT INTO passes (id, section, at_ms, tag, body, annulled, attempt) VALUES (?, 0, 0, ?, ?, false, ?) IF NOT EXISTS USING TTL ?",
);
/// A scan's line in its pass's scan log (inside the scan's batch).
pub const SCAN_LOG_ROW: Def = def(
    "scan: log row",
    Class::Lwt,
    "INSERT INTO passes (id, section, at_ms, tag, body, annulled) VALUES (?, 1, ?, ?, ?, false)",
);
/// A new pass's state and record, only if it has none.
pub const INSERT_PASS: Def = def(
    "insert pass",
    Class::Lwt,
    "INSERT INTO passes (id, record, uses, status, status_reason, use_limit, personal) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
);
/// Takes back a pass this call inserted when another of its passes exists.
pub const UNDO_INSERT: Def = def(
    "undo insert",
    Class::Lwt,
    "DELETE record, uses, status, status_reason, use_limit, personal FROM passes WHERE id = ? IF uses = ?",
);
/// An admin change's state change, if the pass exists and is not erased
/// (an erase is final): the first statement of the admin batch.
pub const ADMIN_STATE: Def = def(
    "admin: status",
    Class::Lwt,
    "UPDATE passes SET status = ?, status_reason = ?, status_since = ? WHERE id = ? IF use_limit != null AND erased_ms = null",
);
/// An erase's state change, if the pass exists (erased or not): the status
/// and the erased marker, the first statement of the erase batch.
pub const ERASE_STATE: Def = def(
    "erase: status and marker",
    Class::Lwt,
    "UPDATE passes SET status = ?, status_reason = ?, status_since = ?, erased_ms = ? WHERE id = ? IF use_limit != null",
);
/// A re-issue: the pass record with its new token generation, if the pass
/// exists and is not erased (the status columns untouched): the first
/// statement of the re-issue batch.
pub const REISSUE_STATE: Def = def(
    "reissue: record",
    Class::Lwt,
    "UPDATE passes SET record = ? WHERE id = ? IF use_limit != null AND erased_ms = null",
);
/// What a refused change is told apart by: whether the pass exists, and
/// its erased marker; with its status (a pass erased under schema 4 has
/// no marker yet) and its holder link (a link write's unknown outcome),
/// read serially.
pub const ERASED_SERIAL: Def = def(
    "serial read erased marker",
    Class::SerialRead,
    "SELECT use_limit, status, status_since, erased_ms, holder_link FROM passes WHERE id = ? LIMIT 1",
);
/// Writes the marker of a pass erased under schema 4 (found by its erase
/// audit line), if its status is still the one that erase set.
pub const MARK_ERASED: Def = def(
    "mark erased",
    Class::Lwt,
    "UPDATE passes SET erased_ms = ? WHERE id = ? IF status = 'revoked' AND status_since = ? AND erased_ms = null",
);
/// A pass's personal-data key, written before its pass and only if no key
/// is there (a colliding id never replaces another pass's key).
pub const PASS_KEY_PUT: Def = def(
    "put pass key",
    Class::Lwt,
    "INSERT INTO pass_keys (pass_id, key) VALUES (?, ?) IF NOT EXISTS",
);
/// A pass's personal-data key.
pub const PASS_KEY_READ: Def = def(
    "read pass key",
    Class::Read,
    "SELECT key FROM pass_keys WHERE pass_id = ?",
);
/// Destroys a pass's key (an erase, or an insert taken back): idempotent,
/// so the driver may retry it.
pub const PASS_KEY_DELETE: Def = def(
    "delete pass key",
    Class::Write,
    "DELETE FROM pass_keys WHERE pass_id = ?",
);
/// An erase: the pass record without personal fields, no sealed bytes and
/// no holder link, inside the erase batch (conditional on the pass existing).
pub const ERASE_RECORD: Def = def(
    "erase: record",
    Class::Lwt,
    "UPDATE passes SET record = ?, personal = null, holder_link = null WHERE id = ?",
);
/// An audit line in its pass's partition (inside an admin or annul batch).
pub const AUDIT_ROW: Def = def(
    "audit row",
    Class::Lwt,
    "INSERT INTO passes (id, section, at_ms, tag, body) VALUES (?, 2, ?, ?, ?)",
);
/// An annul's state change: the first statement of the annul batch.
pub const ANNUL_STATE: Def = def(
    "annul: use count",
    Class::Lwt,
    "UPDATE passes SET uses = ? WHERE id = ? IF uses = ?",
);
/// Marks the scan-id row annulled, only if it is not yet.
pub const ANNUL_SCAN_ID_ROW: Def = def(
    "annul: scan-id row",
    Class::Lwt,
    "UPDATE passes USING TTL ? SET body = ?, annulled = true WHERE id = ? AND section = 0 AND at_ms = 0 AND tag = ? IF annulled = false",
);
/// Marks the pass's scan-log row annulled.
pub const ANNUL_LOG_ROW: Def = def(
    "annul: log row",
    Class::Lwt,
    "UPDATE passes SET body = ?, annulled = true WHERE id = ? AND section = 1 AND at_ms = ? AND tag = ?",
);
/// Purge: forgets a claim.
pub const FORGET_CLAIM: Def = def(
    "forget claim",
    Class::Lwt,
    "DELETE FROM scan_ids WHERE scan_id = ? IF pass_id = ?",
);
/// Purge: forgets a scan-id row.
pub const FORGET_SCAN_ID_ROW: Def = def(
    "forget scan-id row",
    Class::Lwt,
    "DELETE FROM passes WHERE id = ? AND section = 0 AND at_ms = 0 AND tag = ? IF EXISTS",
);
/// A scan-id row with its pass's use count and its writer's stamp, read
/// serially.
pub const SCAN_ID_ROW_SERIAL: Def = def(
    "serial read scan-id row",
    Class::SerialRead,
    "SELECT uses, body, attempt FROM passes WHERE id = ? AND section = 0 AND at_ms = 0 AND tag = ?",
);
/// A pass's state, read serially.
pub const PASS_STATE_SERIAL: Def = def(
    "serial read pass state",
    Class::SerialRead,
    "SELECT uses, status, use_limit, presence FROM passes WHERE id = ? LIMIT 1",
);
/// A claim, read serially.
pub const CLAIM_SERIAL: Def = def(
    "serial read claim",
    Class::SerialRead,
    "SELECT pass_id, body FROM scan_ids WHERE scan_id = ?",
);
/// An audit row, read serially.
pub const AUDIT_ROW_SERIAL: Def = def(
    "serial read audit row",
    Class::SerialRead,
    "SELECT body FROM passes WHERE id = ? AND section = 2 AND at_ms = ? AND tag = ?",
);
/// A pass (record and state).
pub const LOAD_PASS: Def = def(
    "load pass",
    Class::Read,
    "SELECT record, uses, status, status_reason, use_limit, status_since, presence, personal FROM passes WHERE id = ? LIMIT 1",
);
/// A claim.
pub const CLAIM_READ: Def = def(
    "read claim",
    Class::Read,
    "SELECT pass_id, body FROM scan_ids WHERE scan_id = ?",
);
/// A scan-id row.
pub const SCAN_ID_ROW_READ: Def = def(
    "read scan-id row",
    Class::Read,
    "SELECT uses, body, attempt FROM passes WHERE id = ? AND section = 0 AND at_ms = 0 AND tag = ?",
);
/// An event's scan-log line.
pub const EVENT_SCAN: Def = def(
    "event scan row",
    Class::Write,
    "INSERT INTO event_scans (event, bucket, at_ms, scan_id, body) VALUES (?, ?, ?, ?, ?)",
);
/// A bucket of a log holds rows (TTL 0: kept).
pub const BUCKET: Def = def(
    "bucket index row",
    Class::Write,
    "INSERT INTO buckets (kind, scope, bucket) VALUES (?, ?, ?) USING TTL ?",
);
/// The purge index entry of a scan id.
pub const SCAN_ID_TIME: Def = def(
    "scan-id time row",
    Class::Write,
    "INSERT INTO scan_id_times (day, at_ms, scan_id, pass_id) VALUES (?, ?, ?, ?) USING TTL ?",
);
/// Forgets a purge index entry.
pub const FORGET_SCAN_ID_TIME: Def = def(
    "forget scan-id time row",
    Class::Write,
    "DELETE FROM scan_id_times WHERE day = ? AND at_ms = ? AND scan_id = ?",
);
/// A line of the global audit log.
pub const AUDIT_LOG: Def = def(
    "audit log row",
    Class::Write,
    "INSERT INTO audit_log (bucket, at_ms, tag, body) VALUES (?, ?, ?, ?)",
);
/// A pass in its event's index.
pub const PASS_BY_EVENT: Def = def(
    "pass by event row",
    Class::Write,
    "INSERT INTO passes_by_event (event, shard, id) VALUES (?, ?, ?)",
);
/// Forgets a pass from its event's index (an undone insert).
pub const FORGET_PASS_BY_EVENT: Def = def(
    "forget pass by event row",
    Class::Write,
    "DELETE FROM passes_by_event WHERE event = ? AND shard = ? AND id = ?",
);
/// A range of one section of a pass's partition.
pub const PASS_LOG_RANGE: Def = def(
    "pass log range",
    Class::Query,
    "SELECT at_ms, tag, body FROM passes WHERE id = ? AND (section, at_ms, tag) >= (?, ?, ?) AND (section, at_ms, tag) < (?, ?, ?)",
);
/// A range of one bucket of an event's scan log.
pub const EVENT_SCANS_RANGE: Def = def(
    "event scans range",
    Class::Query,
    "SELECT at_ms, scan_id, body FROM event_scans WHERE event = ? AND bucket = ? AND (at_ms, scan_id) >= (?, ?) AND (at_ms, scan_id) < (?, ?)",
);
/// A range of one bucket of the global audit log.
pub const AUDIT_LOG_RANGE: Def = def(
    "audit log range",
    Class::Query,
    "SELECT at_ms, tag, body FROM audit_log WHERE bucket = ? AND (at_ms, tag) >= (?, ?) AND (at_ms, tag) < (?, ?)",
);
/// Buckets of a log that hold rows, in order.
pub const BUCKETS_RANGE: Def = def(
    "buckets range",
    Class::Query,
    "SELECT bucket FROM buckets WHERE kind = ? AND scope = ? AND bucket >= ? AND bucket <= ? LIMIT ?",
);
/// Pass ids of one shard of an event, after an id.
pub const PASSES_BY_EVENT_RANGE: Def = def(
    "passes by event range",
    Class::Query,
    "SELECT id FROM passes_by_event WHERE event = ? AND shard = ? AND id > ?",
);
/// Every pass, in token order, from the start.
pub const ALL_PASSES_FIRST: Def = def(
    "all passes",
    Class::Query,
    "SELECT DISTINCT id, record, uses, status, status_reason, use_limit, status_since, presence, personal FROM passes",
);
/// Every pass, in token order, after a pass.
pub const ALL_PASSES_AFTER: Def = def(
    "all passes after",
    Class::Query,
    "SELECT DISTINCT id, record, uses, status, status_reason, use_limit, status_since, presence, personal FROM passes WHERE token(id) > token(?)",
);
/// Purge index entries of one day before a time.
pub const SCAN_ID_TIMES_RANGE: Def = def(
    "scan-id times range",
    Class::Query,
    "SELECT at_ms, scan_id, pass_id FROM scan_id_times WHERE day = ? AND at_ms < ? LIMIT ?",
);

/// A grant: the state change if the count and status still hold, the
/// scan-id row if the scan id is new to the pass, and the log line; all in
/// the pass's partition, all or nothing.
pub const GRANT_BATCH: [Def; 3] = [GRANT_STATE, SCAN_ID_ROW, SCAN_LOG_ROW];
/// An entry or exit: count and presence, scan-id row, log line, all or nothing.
pub const MOVE_BATCH: [Def; 3] = [MOVE_STATE, SCAN_ID_ROW, SCAN_LOG_ROW];
/// An offline fact's grant: its count, scan-id row and log line (whose
/// body holds its conflicts), in one conditional batch.
pub const OFFLINE_GRANT_BATCH: [Def; 3] = [OFFLINE_GRANT_STATE, SCAN_ID_ROW, SCAN_LOG_ROW];
/// A guard's override: its count, scan-id row, log line and the pass's
/// audit line, in one conditional batch.
pub const OVERRIDE_GRANT_BATCH: [Def; 4] =
    [OVERRIDE_GRANT_STATE, SCAN_ID_ROW, SCAN_LOG_ROW, AUDIT_ROW];
/// A denial: the scan-id row if new, and the log line.
pub const DENIAL_BATCH: [Def; 2] = [SCAN_ID_ROW, SCAN_LOG_ROW];
/// A re-issue: the record if the pass exists, and the audit line.
pub const REISSUE_BATCH: [Def; 2] = [REISSUE_STATE, AUDIT_ROW];
/// An admin change: the status if the pass exists, and the audit line.
pub const ADMIN_BATCH: [Def; 2] = [ADMIN_STATE, AUDIT_ROW];
/// An erase: the status (revoked) and the erased marker if the pass
/// exists, the record without personal fields, sealed bytes or holder
/// link, and the audit line; the key row is deleted after it applied
/// ([`PASS_KEY_DELETE`]).
pub const ERASE_BATCH: [Def; 3] = [ERASE_STATE, ERASE_RECORD, AUDIT_ROW];
/// An annul: the count if unchanged, the scan-id row if not yet annulled,
/// the log line, the audit line.
pub const ANNUL_BATCH: [Def; 4] = [ANNUL_STATE, ANNUL_SCAN_ID_ROW, ANNUL_LOG_ROW, AUDIT_ROW];
