//! The erased marker on the cluster, statement by statement: schema 5 adds
//! it beside the state, the erase's own batch sets it, every change an
//! erase makes final is conditional on its absence, and nothing clears it.

use crate::schema;
use crate::statements::{self, Class};

#[test]
fn schema_5_adds_the_marker_and_the_link_beside_the_state_and_may_run_twice() {
    const { assert!(schema::SCHEMA_VERSION >= 5) };
    let m5 = schema::MIGRATIONS[4];
    assert_eq!(
        m5,
        [
            "ALTER TABLE passes ADD erased_ms bigint STATIC",
            "ALTER TABLE passes ADD holder_link blob STATIC"
        ]
    );
    let exists = "Invalid column name erased_ms because it conflicts with an existing column";
    assert!(schema::already_applied(m5[0], &exists));
}

#[test]
fn every_change_an_erase_makes_final_is_conditional_on_no_marker() {
    for d in [
        statements::ADMIN_STATE,
        statements::REISSUE_STATE,
        statements::HOLDER_LINK_SET,
    ] {
        assert_eq!(d.class, Class::Lwt, "{}", d.name);
        assert!(
            d.cql
                .ends_with(" IF use_limit != null AND erased_ms = null"),
            "{}: {}",
            d.name,
            d.cql
        );
    }
    assert_eq!(
        statements::ADMIN_BATCH[0],
        statements::ADMIN_STATE,
        "a status change's batch starts with the condition"
    );
    assert_eq!(statements::REISSUE_BATCH[0], statements::REISSUE_STATE);
}

#[test]
fn the_erase_sets_the_marker_in_its_own_batch_and_nothing_clears_it() {
    let erase = statements::ERASE_STATE;
    assert_eq!(
        erase.cql,
        "UPDATE passes SET status = ?, status_reason = ?, status_since = ?, erased_ms = ? \
         WHERE id = ? IF use_limit != null",
        "an erase of an erased pass applies again"
    );
    assert_eq!(statements::ERASE_BATCH[0], erase);
    for d in statements::ALL {
        let sets = d.cql.split(" WHERE ").next().unwrap_or_default();
        assert!(!sets.contains("erased_ms = null"), "{}: {}", d.name, d.cql);
        assert!(!d.cql.starts_with("DELETE erased_ms"), "{}", d.cql);
        if sets.contains("erased_ms = ?") {
            assert!(
                [statements::ERASE_STATE.name, statements::MARK_ERASED.name].contains(&d.name),
                "only an erase (or the schema-4 catch-up) marks: {}",
                d.name
            );
        }
    }
    // UNDO_INSERT takes back a pass this call inserted, never an erased one.
    assert!(!statements::UNDO_INSERT.cql.contains("erased_ms"));
}

#[test]
fn a_pass_erased_under_schema_4_is_marked_only_while_that_erase_is_its_last_change() {
    let mark = statements::MARK_ERASED;
    assert_eq!(mark.class, Class::Lwt);
    assert_eq!(
        mark.cql,
        "UPDATE passes SET erased_ms = ? WHERE id = ? \
         IF status = 'revoked' AND status_since = ? AND erased_ms = null"
    );
    let read = statements::ERASED_SERIAL;
    assert_eq!(read.class, Class::SerialRead);
    assert!(
        read.cql.starts_with(
            "SELECT use_limit, status, status_since, erased_ms, holder_link FROM passes"
        ),
        "{}",
        read.cql
    );
}
