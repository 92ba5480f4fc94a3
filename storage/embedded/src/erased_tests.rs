//! The erased marker in the embedded store: checked in the writer's batch
//! (a change later in the same batch as the erase is refused), kept in the
//! erase's own redo record (an erase acknowledged from the log alone is
//! final after the replay), and never removed by retention.

use super::apply::{Batch, Command};
use super::layout::Tables;
use super::writer_state::WriterState;
use super::{EmbeddedConfig, EmbeddedStore};
use fjall::Database;
use scangate_core::{AdminAction, AuditRecord, Pass, Status};
use scangate_storage::cache::{CacheConfig, CachedStore};
use scangate_storage::conformance::{self, new_pass, now_ms};
use scangate_storage::{HolderLink, Store, StoreError};
use std::sync::Arc;
use tokio::sync::oneshot;

fn change(pass: &Pass, action: AdminAction, before: Status, after: Status) -> AuditRecord {
    AuditRecord {
        pass_id: pass.id,
        at_ms: now_ms(),
        who: "test".into(),
        action,
        reason: "erased marker".into(),
        status_before: before,
        status_after: after,
        scan_id: None,
        token_generation: None,
    }
}

type Answer = oneshot::Receiver<Result<(), StoreError>>;

/// Adds the command `make` builds around a fresh reply channel.
fn add(
    batch: &mut Batch<'_>,
    make: impl FnOnce(oneshot::Sender<Result<(), StoreError>>) -> Command,
) -> Answer {
    let (tx, rx) = oneshot::channel();
    batch.add(make(tx));
    rx
}

fn link(pass: &Pass, byte: u8) -> HolderLink {
    HolderLink {
        pass_id: pass.id,
        secret_sha256: [byte; 32],
        created_ms: now_ms(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_never_removes_the_erased_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
    conformance::erased_outlives_its_audit_record(Arc::new(store)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open"));
    let cached = CachedStore::new(inner, CacheConfig::default());
    conformance::erased_outlives_its_audit_record(Arc::new(cached)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erase_is_final_within_its_batch_and_after_a_crash_replays_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = new_pass(Some(2));
    {
        // One batch, logged but never folded: insert, link, erase, then a
        // reactivation and a link the same batch must refuse.
        let db = Database::builder(dir.path()).open().expect("db");
        let (mut w, _folds) = WriterState::unfolded(dir.path(), Tables::open(db).expect("tables"));
        let mut batch = Batch::new(&mut w, 0, 8);
        let erase = change(&pass, AdminAction::Erase, Status::Active, Status::Revoked);
        let back = change(
            &pass,
            AdminAction::Reactivate,
            Status::Revoked,
            Status::Active,
        );
        let mut answers = [
            add(&mut batch, |reply| Command::Insert {
                passes: vec![pass.clone()],
                reply,
            }),
            add(&mut batch, |reply| Command::PutLink {
                link: link(&pass, 1),
                reply,
            }),
            add(&mut batch, |reply| Command::Admin {
                audit: Box::new(erase),
                reply,
            }),
            add(&mut batch, |reply| Command::Admin {
                audit: Box::new(back),
                reply,
            }),
            add(&mut batch, |reply| Command::PutLink {
                link: link(&pass, 2),
                reply,
            }),
        ];
        batch.log().answer().expect("logged");
        let got: Vec<_> = answers
            .iter_mut()
            .map(|rx| rx.try_recv().expect("answered"))
            .collect();
        assert!(got[..3].iter().all(Result::is_ok), "{got:?}");
        for refused in &got[3..] {
            assert!(
                matches!(refused, Err(StoreError::Erased(id)) if *id == pass.id),
                "a change after the erase in its own batch: {refused:?}"
            );
        }
    }
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!(loaded.status, Status::Revoked);
    assert_eq!(
        store.holder_link(pass.id).await.expect("read"),
        None,
        "the erase removed the link put before it in the batch"
    );
    let back = change(
        &pass,
        AdminAction::Reactivate,
        Status::Revoked,
        Status::Active,
    );
    assert!(
        matches!(store.commit_admin(back).await, Err(StoreError::Erased(_))),
        "the replayed erase is still final"
    );
    assert!(matches!(
        store.put_holder_link(link(&pass, 3)).await,
        Err(StoreError::Erased(_))
    ));
    assert_eq!(
        store.stored_key(pass.id).await.expect("read"),
        Some(Vec::new()),
        "the marker is the empty key"
    );
}
