//! Building one event's snapshot: its passes read from the store page by
//! page (at most [`crate::config::SnapshotLimits::max_passes`]), then built
//! and signed on a blocking thread, never on the runtime's workers (about
//! 1 s of CPU for 1M passes).

use super::FetchError;
use metrics::{counter, histogram};
use scangate_core::Pass;
use scangate_core::offline::{BuildError, Snapshot, SnapshotMeta, SnapshotSigner, build};
use scangate_core::token::Keyring;
use scangate_storage::Store;
use scangate_storage::query::{PAGE_MAX, PassQuery};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Versions that only go up: a version is its snapshot's creation time
/// (Unix ms), or one more than the last version when the clock stood still
/// or stepped back, so devices and reconciliation can order them.
#[derive(Debug, Default)]
pub(super) struct VersionClock {
    last: AtomicU64,
}

impl VersionClock {
    /// The next version at `now_ms`: `max(now_ms, last + 1)`.
    pub(super) fn next(&self, now_ms: i64) -> u64 {
        let now = u64::try_from(now_ms).unwrap_or(0);
        let mut next = 0;
        let _ = self
            .last
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                next = now.max(last.saturating_add(1));
                Some(next)
            });
        next
    }
}

/// Reads every pass of `event`, page by page, with its display text and
/// status reason dropped at once (no snapshot holds them). More than `max`
/// passes is refused before the next page is read.
pub(super) async fn load_passes(
    store: &dyn Store,
    event: &str,
    max: usize,
) -> Result<Vec<Pass>, FetchError> {
    let mut passes = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .query_passes(PassQuery {
                event: Some(event.to_owned()),
                after,
                limit: PAGE_MAX,
                ..PassQuery::default()
            })
            .await
            .map_err(|e| FetchError::Store(e.to_string()))?;
        passes.extend(page.items.into_iter().map(|mut p| {
            p.display = None;
            p.card = None;
            p.status_reason = None;
            p
        }));
        if passes.len() > max {
            return Err(FetchError::TooManyPasses { max });
        }
        match page.next {
            Some(cursor) => after = Some(cursor),
            None => return Ok(passes),
        }
    }
}

/// What a build needs besides the passes.
pub(super) struct Recipe {
    pub(super) meta: SnapshotMeta,
    pub(super) keyring: Arc<Keyring>,
    pub(super) signer: SnapshotSigner,
    pub(super) previous: Option<Arc<Snapshot>>,
}

/// Builds and signs on a blocking thread. Every pass is indexed under the
/// static token of every key in the ring (a holder may show a token signed
/// before a rotation).
pub(super) async fn build_signed(
    recipe: Recipe,
    passes: Vec<Pass>,
) -> Result<(Snapshot, Vec<u8>), FetchError> {
    let started = Instant::now();
    let built = tokio::task::spawn_blocking(move || {
        let Recipe {
            meta,
            keyring,
            signer,
            previous,
        } = recipe;
        let tokens = |pass: &Pass| -> Vec<String> {
            keyring
                .key_ids()
                .filter_map(|key| {
                    keyring.sign_generation(key, pass.id, None, pass.token_generation)
                })
                .collect()
        };
        let snapshot = build(&meta, &passes, tokens, previous.as_deref())?;
        let bytes = snapshot.to_signed_bytes(&signer);
        Ok::<_, BuildError>((snapshot, bytes))
    })
    .await
    .map_err(|_| FetchError::Stopped)?;
    let outcome = if built.is_ok() { "built" } else { "failed" };
    counter!("scangate_offline_snapshot_builds_total", "outcome" => outcome).increment(1);
    histogram!("scangate_offline_snapshot_build_seconds").record(started.elapsed().as_secs_f64());
    built.map_err(FetchError::Build)
}

#[cfg(test)]
mod tests {
    use super::VersionClock;

    #[test]
    fn versions_go_up_even_when_the_clock_steps_back() {
        let clock = VersionClock::default();
        assert_eq!(clock.next(1_000), 1_000);
        assert_eq!(clock.next(1_000), 1_001, "the clock stood still");
        assert_eq!(clock.next(500), 1_002, "the clock stepped back");
        assert_eq!(clock.next(5_000), 5_000, "the clock again");
        assert_eq!(clock.next(-3), 5_001, "before 1970");
    }
}
