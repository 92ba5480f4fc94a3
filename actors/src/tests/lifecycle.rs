//! Actor lifecycle: bounds, idle stop, a stale handle, spawning, shutdown.

use super::*;
use crate::AdminError;
use crate::directory::{PRESSURE_IDLE_STOP, SHARDS, SWEEP_MAX_INTERVAL};
use crate::message::ActorMsg;
use crate::queue::Queue;

#[tokio::test]
async fn a_full_queue_answers_busy() {
    let p = pass(None);
    let cfg = RegistryConfig {
        max_queued_per_pass: 2,
        ..config()
    };
    let (registry, store) = setup(cfg, &[&p]);
    let (first, second, queue) =
        hold_first_queue_second(&registry, &store, p.id, ["q1", "q2"]).await;

    let third = registry.scan(p.id, scan("q3")).await.expect("answered");
    assert_eq!(third, ScanOutcome::refused(Reason::Busy));
    assert!(matches!(
        registry.admin(p.id, revoke()).await,
        Err(AdminError::Busy)
    ));

    store.release();
    assert!(granted(&first.await.expect("join").expect("q1")));
    assert!(granted(&second.await.expect("join").expect("q2")));
    assert_eq!(queue.len(), 0);
    assert_eq!(store.stored(p.id).uses, 2);
}

#[tokio::test(start_paused = true)]
async fn the_actor_cap_answers_busy_until_an_actor_stops() {
    let (a, b) = (pass(None), pass(None));
    let cfg = RegistryConfig {
        max_live_actors: 1,
        ..config()
    };
    let (registry, store) = setup(cfg.clone(), &[&a, &b]);
    assert!(granted(&registry.scan(a.id, scan("a1")).await.expect("a1")));
    let refused = registry.scan(b.id, scan("b1")).await.expect("answered");
    assert_eq!(refused, ScanOutcome::refused(Reason::Busy));
    assert!(matches!(
        registry.admin(b.id, revoke()).await,
        Err(AdminError::Busy)
    ));
    assert_eq!(store.stored(b.id).uses, 0);

    tokio::time::advance(cfg.idle_stop() + Duration::from_millis(1)).await;
    wait_until("a's actor stopped", || registry.live_actors() == 0).await;
    let retry = registry.scan(b.id, scan("b1")).await.expect("b1");
    assert!(granted(&retry) && !retry.replayed, "busy was not stored");
}

#[tokio::test(start_paused = true)]
async fn an_idle_actor_stops_and_restarts_from_the_store() {
    let p = pass(Some(3));
    let (registry, store) = setup(config(), &[&p]);
    let idle = config().idle_stop();
    assert!(granted(&registry.scan(p.id, scan("i1")).await.expect("i1")));
    assert_eq!(registry.live_actors(), 1);

    // Activity pushes the idle stop back.
    tokio::time::advance(idle / 2).await;
    assert!(granted(&registry.scan(p.id, scan("i2")).await.expect("i2")));
    tokio::time::advance(idle / 2 + Duration::from_millis(1)).await;
    for _ in 0..100 {
        // Give a (wrong) stop every chance to happen before checking.
        tokio::task::yield_now().await;
    }
    assert_eq!(registry.live_actors(), 1, "active within idle_stop");

    tokio::time::advance(idle).await;
    wait_until("the idle actor stopped", || registry.live_actors() == 0).await;
    assert!(registry.directory().live(p.id).expect("open").is_none());

    let loads = store.loads();
    let third = registry.scan(p.id, scan("i3")).await.expect("i3");
    assert!(granted(&third));
    assert_eq!(third.uses, Some(3), "restarted with the stored uses");
    assert_eq!(store.loads(), loads + 1, "the new actor loaded the pass");
    assert_eq!(registry.directory().started_count(), 2);
    let retry = registry.scan(p.id, scan("i1")).await.expect("retry");
    assert!(retry.replayed && retry.uses == Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_actor_cap_holds_across_shards_under_concurrent_first_scans() {
    let passes: Vec<Pass> = (0..64).map(|_| pass(Some(5))).collect();
    let cfg = RegistryConfig {
        max_live_actors: 8,
        ..config()
    };
    let (registry, _store) = setup(cfg, &passes.iter().collect::<Vec<_>>());
    let scans: Vec<_> = passes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (registry, id) = (registry.clone(), p.id);
            tokio::spawn(async move { registry.scan(id, scan(&format!("c{i}"))).await })
        })
        .collect();
    let mut granted_count = 0;
    for task in scans {
        let outcome = task.await.expect("join").expect("answered");
        if granted(&outcome) {
            granted_count += 1;
        } else {
            assert_eq!(outcome, ScanOutcome::refused(Reason::Busy));
        }
    }
    // Actors idle 30 s: the first eight stay, every other pass was refused.
    assert_eq!(granted_count, 8);
    assert_eq!(registry.live_actors(), 8);
}

#[tokio::test(start_paused = true)]
async fn over_half_the_actor_cap_idle_actors_stop_after_a_second() {
    let passes: Vec<Pass> = (0..4).map(|_| pass(Some(5))).collect();
    let cfg = RegistryConfig {
        max_live_actors: 6,
        ..config()
    };
    let (registry, store) = setup(cfg, &passes.iter().collect::<Vec<_>>());
    // Three live actors of six slots: no pressure, the 30 s idle stop holds.
    for (i, p) in passes[..3].iter().enumerate() {
        assert!(granted(
            &registry
                .scan(p.id, scan(&format!("a{i}")))
                .await
                .expect("scan")
        ));
    }
    tokio::time::advance(PRESSURE_IDLE_STOP * 3).await;
    for _ in 0..100 {
        // Give a (wrong) stop every chance to happen before checking.
        tokio::task::yield_now().await;
    }
    assert_eq!(
        registry.live_actors(),
        3,
        "half the slots or fewer: no early stop"
    );

    // A fourth makes it more than half: actors idle for a second stop.
    let last = &passes[3];
    assert!(granted(
        &registry.scan(last.id, scan("b")).await.expect("b")
    ));
    // The next sweep comes within one sweep interval.
    tokio::time::advance(SWEEP_MAX_INTERVAL).await;
    let dir = registry.directory();
    let stopped = |p: &Pass| dir.live(p.id).expect("open").is_none();
    wait_until("the three idle actors stopped", || {
        passes[..3].iter().all(stopped)
    })
    .await;
    // Nothing was lost: the next scan starts from the stored count.
    let again = registry
        .scan(passes[0].id, scan("a0-2"))
        .await
        .expect("again");
    assert_eq!(again.uses, Some(2));
    assert_eq!(store.stored(passes[0].id).uses, 2);
}

/// Yields (without letting paused time move) until `live` actors are left,
/// then a while longer, and checks that no more stopped.
async fn settles_at(registry: &Registry, live: usize) {
    for _ in 0..1_000 {
        if registry.live_actors() <= live {
            break;
        }
        tokio::task::yield_now().await;
    }
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(registry.live_actors(), live);
}

#[tokio::test(start_paused = true)]
async fn actors_idle_since_the_same_moment_stop_one_shard_per_tick() {
    // One pass in each shard of the directory (the shard is the id's first
    // byte modulo SHARDS), all scanned at the same instant.
    let passes: Vec<Pass> = (0..SHARDS)
        .map(|i| {
            let mut p = pass(None);
            p.id.0[0] = u8::try_from(i).expect("fewer than 256 shards");
            p
        })
        .collect();
    // A sweep every 640 ms (a quarter of the idle stop): a tick every 10 ms,
    // whole milliseconds like tokio's timers.
    let cfg = RegistryConfig {
        idle_stop_ms: 2_560,
        ..config()
    };
    let interval = cfg.idle_stop() / 4;
    let tick = interval / SHARDS as u32;
    let (registry, _store) = setup(cfg.clone(), &passes.iter().collect::<Vec<_>>());
    for (i, p) in passes.iter().enumerate() {
        let outcome = registry.scan(p.id, scan(&format!("s{i}"))).await;
        assert!(granted(&outcome.expect("scan")));
    }

    // Up to one tick short of the idle stop, one sweep interval at a time
    // (each step's ticks are made up at once): every shard is swept again
    // and again, and no actor has been idle long enough.
    let short = cfg.idle_stop() - tick;
    let mut at = Duration::ZERO;
    while at < short {
        let step = interval.min(short - at);
        tokio::time::advance(step).await;
        at += step;
        settles_at(&registry, SHARDS).await;
    }
    // The next tick sweeps one shard: one actor stops, not the whole crowd.
    tokio::time::advance(tick).await;
    settles_at(&registry, SHARDS - 1).await;
    // Within one more sweep interval every shard has had its turn.
    tokio::time::advance(interval).await;
    settles_at(&registry, 0).await;
}

#[tokio::test]
async fn a_stopped_actor_left_in_the_map_is_replaced_once() {
    // Three uses, so the pass is not spent after two grants (a spent pass's
    // actor stops by itself).
    let p = pass(Some(3));
    let (registry, _store) = setup(config(), &[&p]);
    assert!(granted(&registry.scan(p.id, scan("r1")).await.expect("r1")));
    let stale = registry
        .directory()
        .live(p.id)
        .expect("open")
        .expect("live");
    stale.actor.stop(None);
    stale.actor.wait(None).await.expect("stopped");
    // As if the registry had looked the actor up just before it stopped.
    registry.directory().insert_live(p.id, stale.clone());

    let second = registry.scan(p.id, scan("r2")).await.expect("r2");
    assert!(granted(&second));
    assert_eq!(second.uses, Some(2));
    let fresh = registry
        .directory()
        .live(p.id)
        .expect("open")
        .expect("live");
    assert_ne!(fresh.actor.get_id(), stale.actor.get_id());
}

#[tokio::test]
async fn shutdown_finishes_queued_requests_then_refuses() {
    let p = pass(None);
    let (registry, store) = setup(config(), &[&p]);
    let (first, second, _queue) =
        hold_first_queue_second(&registry, &store, p.id, ["x1", "x2"]).await;

    let shutdown = tokio::spawn({
        let registry = registry.clone();
        async move { registry.shutdown().await }
    });
    wait_until("the registry is closed", || {
        registry.directory().is_closed()
    })
    .await;
    let refused = registry.scan(p.id, scan("x3")).await;
    assert!(
        matches!(refused, Err(ScanError::ShuttingDown)),
        "{refused:?}"
    );

    store.release();
    assert!(granted(&first.await.expect("join").expect("x1")));
    assert!(granted(&second.await.expect("join").expect("x2")));
    shutdown.await.expect("shutdown");
    assert_eq!(registry.live_actors(), 0);
    assert_eq!(store.stored(p.id).uses, 2);

    assert!(matches!(
        registry.scan(p.id, scan("x4")).await,
        Err(ScanError::ShuttingDown)
    ));
    assert!(matches!(
        registry.admin(p.id, revoke()).await,
        Err(AdminError::ShuttingDown)
    ));
    assert!(matches!(
        registry.pass(p.id).await,
        Err(ScanError::ShuttingDown)
    ));
}

#[tokio::test]
async fn handing_a_pass_to_its_actor_does_not_touch_the_store() {
    // The registry loads; the actor only takes what it is given.
    let p = pass(None);
    let (registry, store) = setup(config(), &[]);
    let settings = crate::settings::Settings {
        store: store.clone(),
        directory: registry.directory().clone(),
        clock: Arc::new(crate::SystemClock),
        store_timeout: config().store_timeout(),
        machine: scangate_core::protocol::MachineConfig {
            recheck_after_ms: None,
            annul_window_ms: config().annul_window_ms,
        },
        flag_policy: Arc::default(),
        flag_horizon_ms: 0,
        definitions: Arc::new(scangate_core::event::NoDefinitions),
        occupancy: Arc::default(),
    };
    let actors = crate::slots::Actors::new(settings);
    let actor = actors.of(p.id).await.expect("spawn").expect("open");
    let start = ActorMsg::Start {
        pass: Box::new(p),
        recent: Default::default(),
        queue: Arc::new(Queue::new(0)),
    };
    actor.send_message(start).expect("sent");
    wait_until("the pass is held", || registry.live_actors() == 1).await;
    assert_eq!(store.loads(), 0);
    actor.stop(None);
    wait_until("the pass left with its actor", || {
        registry.live_actors() == 0
    })
    .await;
    assert!(actors.close().iter().all(|a| a.get_id() == actor.get_id()));
}

#[tokio::test]
async fn a_spent_pass_lets_its_actor_go_at_once() {
    let p = pass(Some(1));
    let (registry, _store) = setup(config(), &[&p]);
    assert!(granted(
        &registry.scan(p.id, scan("only")).await.expect("grant")
    ));
    // No idle wait: the one use is gone, so the actor stops right away.
    wait_until("the spent pass's actor stopped", || {
        registry.live_actors() == 0
    })
    .await;
    let again = registry.scan(p.id, scan("again")).await.expect("rescan");
    assert_eq!(again.decision, Decision::Denied(Reason::UsedUp));
    assert_eq!(again.uses, Some(1), "the fresh actor starts from the store");
    let retry = registry.scan(p.id, scan("only")).await.expect("retry");
    assert!(
        granted(&retry) && retry.replayed,
        "a retry still gets the first decision"
    );
}
