//! Erasure on the cluster, statement by statement: the schema that keeps
//! keys apart, the insert that seals, the erase batch that clears, and the
//! key row that an erase deletes.

use crate::schema;
use crate::statements::{self, Class};

#[test]
fn schema_4_keeps_keys_in_a_table_apart_from_the_sealed_fields() {
    const { assert!(schema::SCHEMA_VERSION >= 4) };
    let m4 = schema::MIGRATIONS[3];
    assert!(
        m4.contains(&"CREATE TABLE IF NOT EXISTS pass_keys (pass_id blob PRIMARY KEY, key blob)")
    );
    assert!(m4.contains(&"ALTER TABLE passes ADD personal blob STATIC"));
    let exists = "Invalid column name personal because it conflicts with an existing column";
    assert!(
        schema::already_applied("ALTER TABLE passes ADD personal blob STATIC", &exists),
        "a second gateway's run of migration 4 is taken as done"
    );
}

#[test]
fn an_insert_seals_and_its_key_never_replaces_another_passes() {
    let insert = statements::INSERT_PASS.cql;
    assert!(
        insert.contains("personal") && insert.ends_with("IF NOT EXISTS"),
        "{insert}"
    );
    let put = statements::PASS_KEY_PUT;
    assert_eq!(put.class, Class::Lwt);
    assert_eq!(
        put.cql, "INSERT INTO pass_keys (pass_id, key) VALUES (?, ?) IF NOT EXISTS",
        "a colliding id must not overwrite the key of the pass that holds it"
    );
    assert!(
        statements::UNDO_INSERT.cql.contains("personal"),
        "an insert taken back takes its sealed fields with it"
    );
}

#[test]
fn a_load_reads_the_sealed_fields_and_the_key_apart() {
    for d in [
        statements::LOAD_PASS,
        statements::ALL_PASSES_FIRST,
        statements::ALL_PASSES_AFTER,
    ] {
        assert!(d.cql.contains(", personal FROM passes"), "{}", d.cql);
    }
    let read = statements::PASS_KEY_READ;
    assert_eq!(read.class, Class::Read);
    assert_eq!(read.cql, "SELECT key FROM pass_keys WHERE pass_id = ?");
}

#[test]
fn an_erase_clears_record_and_sealed_fields_in_one_conditional_batch_then_the_key() {
    assert_eq!(
        statements::ERASE_BATCH,
        [
            statements::ERASE_STATE,
            statements::ERASE_RECORD,
            statements::AUDIT_ROW
        ],
        "status and marker, record and audit line: all or nothing, only if the pass exists"
    );
    assert!(
        statements::ERASE_STATE
            .cql
            .ends_with(" IF use_limit != null")
    );
    assert_eq!(
        statements::ERASE_RECORD.cql,
        "UPDATE passes SET record = ?, personal = null, holder_link = null WHERE id = ?"
    );
    let delete = statements::PASS_KEY_DELETE;
    assert_eq!(delete.cql, "DELETE FROM pass_keys WHERE pass_id = ?");
    assert_eq!(
        delete.class,
        Class::Write,
        "idempotent: retried by the driver"
    );
    assert!(delete.class.idempotent());
    for d in [
        statements::PASS_KEY_PUT,
        statements::PASS_KEY_READ,
        statements::PASS_KEY_DELETE,
        statements::ERASE_RECORD,
    ] {
        assert!(statements::ALL.contains(&d), "{} is prepared", d.name);
    }
}

#[test]
fn no_statement_but_insert_erase_and_undo_writes_the_sealed_fields_or_keys() {
    let writers = [
        statements::INSERT_PASS.name,
        statements::UNDO_INSERT.name,
        statements::ERASE_RECORD.name,
        statements::PASS_KEY_PUT.name,
        statements::PASS_KEY_DELETE.name,
    ];
    for d in statements::ALL {
        let writes = !d.cql.starts_with("SELECT ");
        let touches = d.cql.contains("personal") || d.cql.contains("pass_keys");
        if writes && touches {
            assert!(writers.contains(&d.name), "{}: {}", d.name, d.cql);
        }
    }
}
