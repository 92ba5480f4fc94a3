//! The pass cache in front of a backend: issued passes and the warm-up's
//! passes are served from memory, never newer than the store allows, and
//! a stale copy is corrected by the conditional grant.
//!
//! Each scenario takes the backend itself (`inner`) and puts its own
//! [`CachedStore`] in front; what the cache answers is told apart from what
//! the store holds by writing through `inner` alone (the cache does not see
//! it). A store shared with other gateways keeps cached passes for
//! [`crate::cache::SHARED_TTL`] only, so these run against a store of one
//! gateway (the embedded one).

use super::fixtures::{audit, expect_conflict, new_pass, now_ms, scan};
use crate::Store;
use crate::cache::{CacheConfig, CachedStore};
use scangate_core::{AdminAction, Decision, Pass, PassId, Status};
use std::sync::Arc;

const HOUR_MS: i64 = 3_600_000;

async fn load(store: &dyn Store, id: PassId) -> Pass {
    store.load_pass(id).await.expect("load").expect("stored")
}

/// Suspends `id` through `store` alone.
async fn suspend(store: &dyn Store, id: PassId) {
    let change = audit(id, AdminAction::Suspend, Status::Active, Status::Suspended);
    store.commit_admin(change).await.expect("suspend");
}

/// A pass issued through the cache is cached as the store keeps it: its
/// first load reads no store.
pub async fn issued_passes_are_served_from_the_cache(inner: Arc<dyn Store>) {
    let cache = CachedStore::new(inner.clone(), CacheConfig::default());
    let pass = new_pass(Some(1));
    cache
        .insert_passes(vec![pass.clone()])
        .await
        .expect("issue");
    let stored = load(inner.as_ref(), pass.id).await;
    suspend(inner.as_ref(), pass.id).await;
    assert_eq!(
        load(&cache, pass.id).await,
        stored,
        "the first load after the issue came from the cache (the stored pass \
         before the suspend the cache did not see)"
    );
}

/// The passes [`warm_up_caches_what_is_on_now`] expects: one on now, one
/// whose window ended an hour ago, one starting within the warm-up's
/// window. Stored through `store` (before a restart, in the embedded
/// store's test).
pub async fn warm_up_fixture(store: &dyn Store) -> [Pass; 3] {
    let now = now_ms();
    let on_now = Pass {
        valid_from_ms: Some(now - HOUR_MS),
        valid_until_ms: Some(now + HOUR_MS),
        ..new_pass(Some(1))
    };
    let ended = Pass {
        valid_until_ms: Some(now - HOUR_MS),
        ..new_pass(Some(1))
    };
    let tonight = Pass {
        valid_from_ms: Some(now + 6 * HOUR_MS),
        ..new_pass(Some(1))
    };
    let passes = [on_now, ended, tonight];
    store.insert_passes(passes.to_vec()).await.expect("issue");
    passes
}

/// A warm-up over `inner` (the cache empty, as after a restart) caches the
/// passes of [`warm_up_fixture`] that are on now or start within its
/// window, and not the ended one.
pub async fn warm_up_caches_what_is_on_now(inner: Arc<dyn Store>, fixture: [Pass; 3]) {
    let cache = CachedStore::new(inner.clone(), CacheConfig::default());
    let warmed = cache.warm_up(now_ms()).await.expect("warm-up");
    assert!(
        warmed.cached >= 2 && warmed.examined >= 3,
        "the walk read the fixture and cached some: {warmed:?}"
    );
    for pass in &fixture {
        suspend(inner.as_ref(), pass.id).await;
    }
    let [on_now, ended, tonight] = fixture;
    let cached = |p: Pass| p.status == Status::Active;
    assert!(cached(load(&cache, on_now.id).await), "on now: cached");
    assert!(
        cached(load(&cache, tonight.id).await),
        "starts tonight: cached"
    );
    assert!(
        !cached(load(&cache, ended.id).await),
        "ended: read from the store"
    );
}

/// A copy read before a write through the cache never replaces what the
/// write left: a pass suspended while the walk's page was out is not
/// cached from the page, and an entry a grant updated is not overwritten.
pub async fn a_warm_up_never_overwrites_a_newer_entry(inner: Arc<dyn Store>) {
    let cache = CachedStore::new(inner.clone(), CacheConfig::default());
    let (blocked, granted) = (new_pass(Some(1)), new_pass(Some(5)));
    inner
        .insert_passes(vec![blocked.clone(), granted.clone()])
        .await
        .expect("issue");
    // The walk takes its clock and reads its page...
    let read_at = cache.write_clock();
    let page = [
        load(inner.as_ref(), blocked.id).await,
        load(inner.as_ref(), granted.id).await,
    ];
    // ...while a suspend of an uncached pass and a scan's grant go through.
    suspend(&cache, blocked.id).await;
    load(&cache, granted.id).await;
    let grant = scan(granted.id, Decision::Granted, 1, now_ms());
    cache.commit_scan(grant).await.expect("grant");
    let [old_blocked, old_granted] = page;
    assert!(!cache.insert_unless_touched(read_at, old_blocked));
    assert!(!cache.insert_unless_touched(read_at, old_granted));
    assert_eq!(load(&cache, blocked.id).await.status, Status::Suspended);
    assert_eq!(
        load(&cache, granted.id).await.uses,
        1,
        "the grant's count stays"
    );
}

/// A warmed copy gone stale (a grant the cache did not see) costs one
/// refused grant: the conditional write answers `Conflict`, the cache drops
/// the copy, and the next load reads the store.
pub async fn a_stale_warmed_entry_is_corrected_by_the_conditional_grant(inner: Arc<dyn Store>) {
    let cache = CachedStore::new(inner.clone(), CacheConfig::default());
    let pass = new_pass(Some(1));
    inner
        .insert_passes(vec![pass.clone()])
        .await
        .expect("issue");
    let read_at = cache.write_clock();
    let copy = load(inner.as_ref(), pass.id).await;
    assert!(cache.insert_unless_touched(read_at, copy), "cached");
    let elsewhere = scan(pass.id, Decision::Granted, 1, now_ms());
    inner
        .commit_scan(elsewhere)
        .await
        .expect("grant beside the cache");
    assert_eq!(load(&cache, pass.id).await.uses, 0, "stale copy served");
    let cache: Arc<dyn Store> = Arc::new(cache);
    let again = scan(pass.id, Decision::Granted, 1, now_ms());
    expect_conflict(&cache, again, pass.id, 1).await;
    assert_eq!(
        load(cache.as_ref(), pass.id).await.uses,
        1,
        "reread after the conflict"
    );
}
