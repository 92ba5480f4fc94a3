//! Every statement's text, class, profile and idempotence.

use crate::config::{Replication, ScyllaConfig, SerialChoice, WriteConsistency};
use crate::profiles;
use crate::schema;
use crate::statements::{self, Class, Def};
use scylla::policies::retry::{DefaultRetryPolicy, FallthroughRetryPolicy};
use scylla::statement::{Consistency, SerialConsistency};
use std::time::Duration;

fn batches() -> [&'static [Def]; 9] {
    [
        &statements::ERASE_BATCH,
        &statements::GRANT_BATCH,
        &statements::MOVE_BATCH,
        &statements::OFFLINE_GRANT_BATCH,
        &statements::OVERRIDE_GRANT_BATCH,
        &statements::REISSUE_BATCH,
        &statements::DENIAL_BATCH,
        &statements::ADMIN_BATCH,
        &statements::ANNUL_BATCH,
    ]
}

fn conditional(d: &Def) -> bool {
    d.cql.contains(" IF ")
}

#[test]
fn every_conditional_statement_is_a_lwt_and_every_select_a_read() {
    for d in statements::ALL {
        if conditional(&d) {
            assert_eq!(d.class, Class::Lwt, "{}: {}", d.name, d.cql);
        }
        let select = d.cql.starts_with("SELECT ");
        assert_eq!(
            select,
            matches!(d.class, Class::SerialRead | Class::Read | Class::Query),
            "{}: {}",
            d.name,
            d.cql
        );
        if d.class == Class::Write {
            assert!(
                !conditional(&d),
                "a plain write has no condition: {}",
                d.cql
            );
        }
        // The session's keyspace is used: no statement names one.
        assert!(!d.cql.contains("scangate."), "{}", d.cql);
    }
}

#[test]
fn every_lwt_outside_a_batch_is_conditional_and_every_batch_has_a_condition() {
    let in_batch = |d: &Def| batches().iter().any(|b| b.contains(d));
    for d in statements::ALL {
        if d.class == Class::Lwt && !in_batch(&d) {
            assert!(conditional(&d), "{}: {}", d.name, d.cql);
        }
    }
    for batch in batches() {
        assert!(batch.iter().any(conditional), "a batch without a condition");
        for d in batch {
            assert_eq!(d.class, Class::Lwt, "{}", d.name);
            // One partition: every part names the pass by its id.
            assert!(d.cql.contains("passes"), "{}", d.cql);
        }
    }
}

#[test]
fn the_grant_condition_covers_count_status_and_limit() {
    assert_eq!(
        statements::GRANT_STATE.cql,
        "UPDATE passes SET uses = ? WHERE id = ? IF uses = ? AND status = 'active' AND use_limit >= ?"
    );
    assert_eq!(
        statements::GRANT_BATCH,
        [
            statements::GRANT_STATE,
            statements::SCAN_ID_ROW,
            statements::SCAN_LOG_ROW
        ]
    );
    assert!(
        statements::SCAN_ID_ROW
            .cql
            .ends_with("IF NOT EXISTS USING TTL ?")
    );
    assert!(statements::CLAIM.cql.ends_with("IF NOT EXISTS USING TTL ?"));
    assert!(
        statements::ANNUL_SCAN_ID_ROW
            .cql
            .ends_with("IF annulled = false")
    );
    assert!(
        statements::ADMIN_STATE
            .cql
            .ends_with("IF use_limit != null AND erased_ms = null")
    );
    assert!(statements::INSERT_PASS.cql.ends_with("IF NOT EXISTS"));
}

#[test]
fn an_offline_fact_is_conditional_on_the_count_alone_and_kept_in_one_partition() {
    assert_eq!(
        statements::OFFLINE_GRANT_STATE.cql,
        "UPDATE passes SET uses = ? WHERE id = ? IF uses = ?",
        "counted whatever the status and limit, never twice"
    );
    assert_eq!(
        statements::OFFLINE_GRANT_BATCH,
        [
            statements::OFFLINE_GRANT_STATE,
            statements::SCAN_ID_ROW,
            statements::SCAN_LOG_ROW
        ]
    );
    assert!(
        statements::ADMIN_STATE.cql.contains("status_since = ?"),
        "an admin change records when the status changed"
    );
    for d in [
        statements::LOAD_PASS,
        statements::ALL_PASSES_FIRST,
        statements::ALL_PASSES_AFTER,
    ] {
        assert!(
            d.cql
                .contains("use_limit, status_since, presence, personal FROM"),
            "{}",
            d.cql
        );
    }
    assert_eq!(statements::CONFLICT_ROW.class, Class::Write, "an index row");
    assert!(
        statements::CONFLICTS_RANGE
            .cql
            .starts_with("SELECT at_ms, tag, body FROM conflicts")
    );
}

#[test]
fn schema_2_adds_status_since_and_the_conflicts_table_and_may_run_twice() {
    const { assert!(schema::SCHEMA_VERSION >= 2) };
    let exists = "Invalid column name status_since because it conflicts with an existing column";
    let alter = "ALTER TABLE passes ADD status_since bigint STATIC";
    assert!(schema::already_applied(alter, &exists));
    assert!(!schema::already_applied(alter, &"Operation timed out"));
    assert!(!schema::already_applied(
        "CREATE TABLE x (a int PRIMARY KEY)",
        &exists
    ));
}

#[test]
fn holder_links_are_lwts_beside_the_state_and_schema_4_rows_are_only_read_and_deleted() {
    const { assert!(schema::SCHEMA_VERSION >= 5) };
    for d in [statements::HOLDER_LINK_SET, statements::HOLDER_LINK_CLEAR] {
        assert_eq!(d.class, Class::Lwt, "{}", d.cql);
        assert!(
            d.cql.starts_with("UPDATE passes SET holder_link = "),
            "{}",
            d.cql
        );
        assert!(statements::ALL.contains(&d), "{}", d.name);
    }
    let read = statements::HOLDER_LINK_READ;
    assert_eq!(read.class, Class::Read);
    assert_eq!(
        read.cql,
        "SELECT holder_link FROM passes WHERE id = ? LIMIT 1"
    );
    assert_eq!(
        statements::LEGACY_LINK_READ.cql,
        "SELECT link FROM holder_links WHERE pass_id = ?"
    );
    assert_eq!(statements::LEGACY_LINK_DELETE.class, Class::Write);
    for d in statements::ALL {
        // The schema-4 table is never written again, only cleaned.
        assert!(!d.cql.starts_with("INSERT INTO holder_links"), "{}", d.cql);
        // The secret is never a column: only the hashed, encoded link.
        assert!(!d.cql.contains("secret"), "{}", d.cql);
    }
}

#[test]
fn an_entry_or_exit_is_conditional_on_count_status_limit_and_presence() {
    assert_eq!(
        statements::MOVE_STATE.cql,
        "UPDATE passes SET uses = ?, presence = ? WHERE id = ? \
         IF uses = ? AND status = 'active' AND use_limit >= ? AND presence = ?"
    );
    assert_eq!(
        statements::MOVE_BATCH,
        [
            statements::MOVE_STATE,
            statements::SCAN_ID_ROW,
            statements::SCAN_LOG_ROW
        ]
    );
    assert!(
        statements::PASS_STATE_SERIAL
            .cql
            .starts_with("SELECT uses, status, use_limit, presence FROM passes"),
        "a refused move is read back with its presence"
    );
    assert_eq!(statements::EVENT_PUT.class, Class::Write);
    assert_eq!(statements::EVENT_GET.class, Class::Read);
    assert!(
        statements::EVENTS_ALL.cql.ends_with("LIMIT ?"),
        "bounded by EVENTS_MAX"
    );
}

#[test]
fn schema_3_adds_presence_and_events() {
    const { assert!(schema::SCHEMA_VERSION >= 3) };
    let exists = "Invalid column name presence because it conflicts with an existing column";
    assert!(schema::already_applied(
        "ALTER TABLE passes ADD presence text STATIC",
        &exists
    ));
}

#[test]
fn presence_is_stored_as_text_and_read_back() {
    use crate::codec::{FromColumns, StateColumns, presence_text};
    use scangate_core::pass::{Presence, ZoneName};
    let id = scangate_core::PassId([1; 16]);
    for p in [
        Presence::Outside,
        Presence::Left,
        Presence::Inside(ZoneName::new("hall").expect("zone")),
    ] {
        let c = StateColumns {
            uses: 1,
            status: "active".into(),
            use_limit: 2,
            presence: presence_text(p),
        };
        let state = scangate_storage::PassState::from_columns(id, &c).expect("state");
        assert_eq!(state.presence, p);
    }
    assert_eq!(presence_text(Presence::Outside), None, "null, as before");
    let bad = StateColumns {
        uses: 1,
        status: "active".into(),
        use_limit: 2,
        presence: Some("sideways".into()),
    };
    assert!(scangate_storage::PassState::from_columns(id, &bad).is_err());
}

#[test]
fn only_lwts_are_non_idempotent() {
    for class in Class::ALL {
        assert_eq!(class.idempotent(), class != Class::Lwt, "{class:?}");
    }
}

fn retry_is<T: 'static>(p: &scylla::client::execution_profile::ExecutionProfile) -> bool {
    p.get_retry_policy()
        .as_any()
        .is_some_and(|a| a.downcast_ref::<T>().is_some())
}

#[test]
fn profiles_set_consistency_timeouts_and_retries_explicitly() {
    let config = ScyllaConfig::default();
    let lwt = profiles::profile(Class::Lwt, &config);
    assert_eq!(lwt.get_consistency(), Consistency::LocalQuorum);
    assert_eq!(
        lwt.get_serial_consistency(),
        Some(SerialConsistency::LocalSerial)
    );
    assert_eq!(lwt.get_request_timeout(), Some(Duration::from_millis(500)));
    assert!(
        retry_is::<FallthroughRetryPolicy>(&lwt),
        "LWTs are never retried"
    );
    assert!(lwt.get_speculative_execution_policy().is_none());

    let serial = profiles::profile(Class::SerialRead, &config);
    assert_eq!(serial.get_consistency(), Consistency::LocalSerial);
    assert_eq!(
        serial.get_request_timeout(),
        Some(Duration::from_millis(300))
    );

    for (class, ms) in [
        (Class::Read, 500),
        (Class::Write, 300),
        (Class::Query, 2_000),
    ] {
        let p = profiles::profile(class, &config);
        assert_eq!(p.get_consistency(), Consistency::LocalQuorum, "{class:?}");
        assert_eq!(p.get_request_timeout(), Some(Duration::from_millis(ms)));
        assert!(retry_is::<DefaultRetryPolicy>(&p), "{class:?}");
        assert!(p.get_speculative_execution_policy().is_none());
    }

    let everywhere = ScyllaConfig {
        consistency: WriteConsistency::Quorum,
        serial_consistency: SerialChoice::Serial,
        ..ScyllaConfig::default()
    };
    let lwt = profiles::profile(Class::Lwt, &everywhere);
    assert_eq!(lwt.get_consistency(), Consistency::Quorum);
    assert_eq!(
        lwt.get_serial_consistency(),
        Some(SerialConsistency::Serial)
    );
    let serial = profiles::profile(Class::SerialRead, &everywhere);
    assert_eq!(serial.get_consistency(), Consistency::Serial);
}

#[test]
fn the_keyspace_is_created_without_tablets() {
    let mut config = ScyllaConfig::default();
    assert_eq!(
        schema::keyspace_cql(&config),
        "CREATE KEYSPACE IF NOT EXISTS scangate WITH replication = \
         {'class': 'NetworkTopologyStrategy', 'replication_factor': 3} \
         AND tablets = {'enabled': false}"
    );
    config.replication = Replication::parse("dc1:3,dc2:2").expect("parses");
    assert!(
        schema::keyspace_cql(&config)
            .contains("{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}")
    );
}
