//! Fraud flags across an actor's life: its history survives an idle stop
//! because the next actor reads the pass's recent scans from the store.

use super::*;
use scangate_core::flags::{Flag, FlagPolicy};

fn denying_rapid_rescan() -> RegistryConfig {
    RegistryConfig {
        flag_policy: Arc::new(FlagPolicy {
            deny: [Flag::RapidRescan].into(),
            ..FlagPolicy::default()
        }),
        ..config()
    }
}

#[tokio::test(start_paused = true)]
async fn a_rescan_after_the_actor_stopped_is_still_flagged_from_the_store() {
    let p = pass(None);
    let cfg = denying_rapid_rescan();
    let (registry, store) = setup(cfg.clone(), &[&p]);
    let first = registry.scan(p.id, scan("f1")).await.expect("f1");
    assert!(granted(&first) && first.flags.is_empty(), "{first:?}");

    tokio::time::advance(cfg.idle_stop() + Duration::from_millis(1)).await;
    wait_until("the actor stopped", || registry.live_actors() == 0).await;
    let again = registry.scan(p.id, scan("f2")).await.expect("f2");
    assert_eq!(again.decision, denied(Reason::RapidRescan));
    assert_eq!(again.flags, vec![Flag::RapidRescan]);
    assert_eq!(store.stored(p.id).uses, 1, "the denial counted nothing");
}

#[tokio::test]
async fn a_clean_pass_raises_nothing_and_shared_code_names_the_second_device() {
    let p = pass(None);
    let (registry, _store) = setup(config(), &[&p]);
    let first = registry.scan(p.id, scan("c1")).await.expect("c1");
    assert!(first.flags.is_empty());
    let mut elsewhere = scan("c2");
    elsewhere.device = "gate-2".into();
    let second = registry.scan(p.id, elsewhere).await.expect("c2");
    assert!(granted(&second), "the default policy only flags");
    assert_eq!(second.flags, vec![Flag::RapidRescan, Flag::SharedCode]);
}
