//! The event floor on disk: a format-5 data directory (every pass state 10
//! bytes, no `events` keyspace) opens as the current format, its passes read as
//! outside, and entries and exits are kept from then on.

use super::tests::with_format;
use super::{EmbeddedConfig, EmbeddedStore, FORMAT_VERSION};
use scangate_core::Decision;
use scangate_core::event::{Direction, Movement};
use scangate_core::pass::{Presence, ZoneName};
use scangate_storage::Store;
use scangate_storage::conformance::{new_pass, now_ms, scan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_5_store_opens_with_its_passes_outside() {
    assert_eq!(FORMAT_VERSION, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = new_pass(Some(2));
    {
        let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
        store
            .insert_passes(vec![pass.clone()])
            .await
            .expect("insert");
        let grant = scan(pass.id, Decision::Granted, 1, now_ms());
        store
            .commit_scan(grant)
            .await
            .expect("a grant as format 5 kept it");
        store.close().await.expect("close");
    }
    // What a format-5 build left: the same tables (its states are 10
    // bytes: no movement was ever written), and version 5.
    with_format(dir.path(), 5);
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("upgraded");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("pass");
    assert_eq!((loaded.uses, loaded.presence), (1, Presence::Outside));
    assert_eq!(store.list_events().await.expect("events"), vec![]);
    let hall = Presence::Inside(ZoneName::new("hall").expect("zone"));
    let mut entry = scan(pass.id, Decision::Granted, 2, now_ms());
    entry.movement = Some(Box::new(Movement {
        direction: Direction::In,
        zone: ZoneName::new("hall").expect("zone"),
        before: Presence::Outside,
        after: hall,
        admission: true,
    }));
    store
        .commit_scan(entry)
        .await
        .expect("an entry after the upgrade");
    store.close().await.expect("close");
    drop(store);
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("reopen");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("pass");
    assert_eq!((loaded.uses, loaded.presence), (2, hall));
    store.close().await.expect("close");
}
