//! The retention walk on the cluster, statement by statement: every read
//! bounded, every delete naming one whole row, the pass's own rows removed
//! by LWT and only their log sections, never a pass's state.

use crate::statements::{self, Class, RETENTION};

#[test]
fn every_retention_statement_is_prepared_and_checked_with_the_rest() {
    for d in RETENTION {
        assert!(statements::ALL.contains(&d), "{} is not in ALL", d.name);
    }
}

#[test]
fn every_retention_read_is_bounded() {
    for d in RETENTION {
        if d.cql.starts_with("SELECT ") {
            assert_eq!(d.class, Class::Query, "{}", d.name);
            assert!(d.cql.ends_with(" LIMIT ?"), "{}: {}", d.name, d.cql);
        }
    }
    assert!(
        statements::RETAIN_OLD_ROWS
            .cql
            .contains("WHERE id = ? AND section = ? AND at_ms < ?"),
        "one section of one pass, before the cut-off"
    );
}

#[test]
fn a_pass_log_row_is_removed_by_a_lwt_naming_the_whole_row() {
    let d = statements::RETAIN_DELETE_ROW;
    assert_eq!(d.class, Class::Lwt);
    assert_eq!(
        d.cql,
        "DELETE FROM passes WHERE id = ? AND section = ? AND at_ms = ? AND tag = ? IF EXISTS",
        "a row, never the partition or its static state"
    );
    for d in [
        statements::RETAIN_EVENT_SCAN_DELETE,
        statements::RETAIN_AUDIT_LOG_DELETE,
        statements::RETAIN_CONFLICT_DELETE,
    ] {
        assert_eq!(d.class, Class::Write, "{}: an index written plain", d.name);
        assert!(d.cql.starts_with("DELETE FROM "), "{}", d.cql);
        assert!(!d.cql.contains("passes"), "{}", d.cql);
        // The whole clustering key: one row, not a range.
        assert!(
            d.cql.contains("at_ms = ?") && !d.cql.contains('<'),
            "{}",
            d.cql
        );
    }
}

#[test]
fn the_walk_reads_passes_by_token_and_conflicts_within_a_bucket() {
    assert_eq!(
        statements::RETAIN_PASSES_AFTER.cql,
        "SELECT DISTINCT id, record FROM passes WHERE token(id) > token(?) LIMIT ?"
    );
    assert!(
        statements::RETAIN_CONFLICTS
            .cql
            .contains("WHERE bucket = ? AND (at_ms, tag) > (?, ?) AND (at_ms, tag) < (?, ?)"),
        "resumes after the last row examined, stops at the latest cut-off"
    );
}
