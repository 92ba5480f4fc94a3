//! Tests of a store damaged under it (real files): what cannot be read back
//! is [`StoreError::Corrupt`] and the rest is served; a store whose tables
//! stopped following its log answers writes [`StoreError::Failed`].

use super::apply::{Batch, Command};
use super::layout::Tables;
use super::writer_state::WriterState;
use super::{EmbeddedConfig, EmbeddedStore};
use fjall::Database;
use scangate_storage::conformance::new_pass;
use scangate_storage::{Store, StoreError};
use tokio::sync::oneshot;

#[test]
fn after_a_fold_failure_writes_are_failed_with_the_cause_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
    let (mut w, _folds) = WriterState::unfolded(dir.path(), tables);
    w.progress.fail("fjall: an I/O error");
    let (tx, mut rx) = oneshot::channel();
    let mut batch = Batch::new(&mut w, 0, 1);
    batch.add(Command::Insert {
        passes: vec![new_pass(Some(1))],
        reply: tx,
    });
    batch
        .log()
        .answer()
        .expect_err("fjall no longer follows the log");
    match rx.try_recv() {
        Ok(Err(StoreError::Failed(why))) => {
            assert!(why.contains("fjall: an I/O error"), "{why}");
            assert!(!why.contains("no more writes"), "the cause once: {why}");
        }
        other => panic!("a write after a fold failure must be Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_damaged_pass_state_is_corrupt_and_other_passes_still_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (damaged, sound) = (new_pass(Some(3)), new_pass(None));
    let (damaged_id, sound_id) = (damaged.id, sound.id);
    {
        let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
        store
            .insert_passes(vec![damaged, sound])
            .await
            .expect("insert");
        store.close().await.expect("close");
    }
    {
        // A state of 3 bytes where the format has 10: as a bad sector or a
        // half-written file would leave it.
        let db = Database::builder(dir.path()).open().expect("db");
        let states = db
            .keyspace("pass_state", fjall::KeyspaceCreateOptions::default)
            .expect("pass_state");
        states.insert(damaged_id.0, [1u8, 2, 3]).expect("damage");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("reopen");
    match store.load_pass(damaged_id).await {
        Err(StoreError::Corrupt(why)) => {
            assert!(why.contains(&damaged_id.to_string()), "{why}");
            assert!(why.contains("wrong length"), "{why}");
        }
        other => panic!("a damaged state must be Corrupt, got {other:?}"),
    }
    let loaded = store
        .load_pass(sound_id)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(loaded.id, sound_id);
    store.close().await.expect("close");
}
