//! The store failing under the actors: a failed commit, an unknown
//! outcome, a commit that outlives its deadline, a scan abandoned in the
//! queue, a hung store. Each is answered as a value within its deadline,
//! and memory is never trusted past a failure.

use super::*;
use crate::AdminError;
use scangate_storage::StoreError;

#[tokio::test]
async fn a_failed_commit_restarts_the_actor_from_the_store() {
    let p = pass(Some(3));
    let (registry, store) = setup(config(), &[&p]);
    assert!(granted(&registry.scan(p.id, scan("f1")).await.expect("f1")));

    store.set_mode(CommitMode::Fail);
    let failed = registry.scan(p.id, scan("f2")).await;
    assert!(
        matches!(
            failed,
            Err(ScanError::Store(StoreError::Unavailable { .. }))
        ),
        "{failed:?}"
    );
    wait_until("the failed actor stopped", || registry.live_actors() == 0).await;
    assert_eq!(store.stored(p.id).uses, 1, "nothing was counted");

    store.set_mode(CommitMode::Normal);
    let retry = registry.scan(p.id, scan("f2")).await.expect("retry");
    assert!(
        granted(&retry) && !retry.replayed,
        "the failed scan was never stored"
    );
    assert_eq!(retry.uses, Some(2));
    assert_eq!(registry.directory().started_count(), 2);
}

#[tokio::test]
async fn an_unknown_commit_outcome_is_resolved_from_the_store() {
    let p = pass(Some(3));
    let (registry, store) = setup(config(), &[&p]);
    store.set_mode(CommitMode::FailAfterWrite);
    let unknown = registry.scan(p.id, scan("u1")).await;
    assert!(matches!(unknown, Err(ScanError::Store(_))), "{unknown:?}");
    wait_until("the failed actor stopped", || registry.live_actors() == 0).await;
    assert_eq!(store.stored(p.id).uses, 1, "the write landed");

    store.set_mode(CommitMode::Normal);
    let retry = registry.scan(p.id, scan("u1")).await.expect("retry");
    assert!(granted(&retry) && retry.replayed && retry.uses == Some(1));
    let next = registry.scan(p.id, scan("u2")).await.expect("u2");
    assert_eq!(
        next.uses,
        Some(2),
        "the new actor started from the store's 1"
    );
}

/// The store takes a commit and holds it past the deadline (a stalled
/// disk): the caller learns the outcome is unknown, but the commit lands
/// later all the same. The actor waits for it, so a retry queued meanwhile
/// is replayed from it and the pass shown is what the store holds (a fresh
/// actor would have loaded the pass before the commit landed, and kept
/// that count).
#[tokio::test(start_paused = true)]
async fn a_commit_that_outlives_the_deadline_is_waited_for() {
    let p = pass(Some(3));
    let (registry, store) = setup(config(), &[&p]);
    store.set_mode(CommitMode::Hold);
    let late = registry.scan(p.id, scan("l1")).await;
    assert!(
        matches!(late, Err(ScanError::Store(StoreError::Timeout(d))) if d == config().store_timeout()),
        "{late:?}"
    );

    let retry = {
        let registry = registry.clone();
        tokio::spawn(async move { registry.scan(p.id, scan("l1")).await })
    };
    let queue = registry
        .directory()
        .live(p.id)
        .expect("open")
        .expect("the actor waits for its commit")
        .queue;
    wait_until("the retry waits behind the held commit", || {
        queue.len() == 2
    })
    .await;
    assert_eq!(store.commits_started(), 1);

    store.release();
    let retry = retry.await.expect("join").expect("retry");
    assert!(
        granted(&retry) && retry.replayed && retry.uses == Some(1),
        "{retry:?}"
    );
    let shown = registry.pass(p.id).await.expect("read").expect("known");
    assert_eq!((shown.uses, store.stored(p.id).uses), (1, 1));
    let next = registry.scan(p.id, scan("l2")).await.expect("l2");
    assert_eq!(next.uses, Some(2));
    assert_eq!(
        registry.directory().started_count(),
        1,
        "one actor throughout"
    );
}

/// A scan whose caller gave up while it waited in the queue is not decided:
/// the caller was told the outcome is unknown, and its retry counts. Here
/// the registry's call deadline ran out; a scanner's shorter one too.
#[tokio::test(start_paused = true)]
async fn a_scan_abandoned_in_the_queue_is_not_decided() {
    let p = pass(Some(3));
    let (registry, store) = setup(config(), &[&p]);
    let (first, second, _queue) =
        hold_first_queue_second(&registry, &store, p.id, ["a1", "a2"]).await;
    let gave_up = second.await.expect("join");
    assert!(
        matches!(gave_up, Err(ScanError::Timeout(d)) if d == config().call_timeout()),
        "{gave_up:?}"
    );
    store.release();
    assert!(matches!(
        first.await.expect("join"),
        Err(ScanError::Store(StoreError::Timeout(_)))
    ));
    // Read through the actor: answered after the abandoned scan's turn.
    let shown = registry.pass(p.id).await.expect("read").expect("known");
    assert_eq!((shown.uses, store.commits_started()), (1, 1));

    let retry = registry.scan(p.id, scan("a2")).await.expect("retry");
    assert!(
        granted(&retry) && !retry.replayed && retry.uses == Some(2),
        "{retry:?}"
    );

    // A scanner that waits 100 ms, queued behind a held commit.
    store.set_mode(CommitMode::Hold);
    let held = {
        let registry = registry.clone();
        tokio::spawn(async move { registry.scan(p.id, scan("a3")).await })
    };
    wait_until("a3's commit is held", || store.commits_started() == 3).await;
    let wait = Duration::from_millis(100);
    let impatient = registry.scan_within(p.id, scan("a4"), Some(wait)).await;
    assert!(
        matches!(impatient, Err(ScanError::Timeout(d)) if d == wait),
        "{impatient:?}"
    );
    store.release();
    let a3 = held.await.expect("join");
    assert!(matches!(&a3, Ok(o) if granted(o)), "{a3:?}");
    let shown = registry.pass(p.id).await.expect("read").expect("known");
    assert_eq!(
        (shown.uses, store.commits_started()),
        (3, 3),
        "a4 not decided"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_store_answers_at_the_deadline_and_holds_the_pass() {
    let p = pass(Some(1));
    let (registry, store) = setup(config(), &[&p]);
    store.set_mode(CommitMode::Hang);
    let hung = registry.scan(p.id, scan("h1")).await;
    let store_timeout = config().store_timeout();
    assert!(
        matches!(hung, Err(ScanError::Store(StoreError::Timeout(d))) if d == store_timeout),
        "{hung:?}"
    );
    // The write may still land: the actor waits for it, and the pass's next
    // request waits behind it until the caller's own deadline.
    assert_eq!(registry.live_actors(), 1);
    let behind = registry.scan(p.id, scan("h2")).await;
    assert!(
        matches!(behind, Err(ScanError::Timeout(d)) if d == config().call_timeout()),
        "{behind:?}"
    );
    assert_eq!(
        store.commits_started(),
        1,
        "nothing decided behind the hung write"
    );
    let revoke = registry.admin(p.id, revoke()).await;
    assert!(matches!(revoke, Err(AdminError::Timeout(_))), "{revoke:?}");

    // A store slower than the caller's deadline: the caller stops waiting.
    let cfg = RegistryConfig {
        store_timeout_ms: 60_000,
        ..config()
    };
    let (registry, store) = setup(cfg.clone(), &[&p]);
    store.set_mode(CommitMode::Hang);
    let late = registry.scan(p.id, scan("h3")).await;
    assert!(
        matches!(late, Err(ScanError::Timeout(d)) if d == cfg.call_timeout()),
        "{late:?}"
    );
}
