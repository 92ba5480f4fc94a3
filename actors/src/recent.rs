//! The recent scans a pass's actor starts with, for the fraud flags
//! ([`scangate_core::flags`]): read from the store when the actor starts,
//! so after a restart (or an idle stop) the flags see the history the store
//! holds.
//!
//! Rules: a pass never granted reads nothing (its first scans after a
//! restart see no earlier denial on another device: `shared_code` may be
//! missed there, never raised wrongly); a pass granted before reads its
//! scans of the last [`FlagPolicy::horizon_ms`](scangate_core::flags::FlagPolicy::horizon_ms), at most
//! [`RECENT_READ_MAX`] of them, oldest first (an event whose definition has
//! its own flag policy: the last [`HORIZON_MAX_MS`]). A read that fails starts the
//! actor with no history (flags are signs, the scan is still decided), and
//! is counted in `scangate_flag_history_unread_total`.

use crate::settings::Settings;
use crate::store_call::deadline;
use scangate_core::Pass;
use scangate_core::flags::{HORIZON_MAX_MS, RecentScans};
use scangate_storage::{ScanQuery, ScanScope};

/// Most stored scans one actor start reads for its history: one page of
/// a small query. 64 scans within the horizon (a minute by default) is far
/// more than any person makes; a pass scanned more often than that is
/// flagged from the first of them already.
pub const RECENT_READ_MAX: usize = 64;

/// The recent scans of `pass` as the store holds them at `now_ms`.
pub(crate) async fn load(settings: &Settings, pass: &Pass, now_ms: i64) -> RecentScans {
    if pass.uses == 0 {
        return RecentScans::default();
    }
    let mut query = ScanQuery::all(ScanScope::Pass(pass.id), RECENT_READ_MAX);
    // An event with its own flag policy looks back the longest a flag may
    // (one page still): its horizon is not computed per actor start.
    let own = settings.definitions.definition(&pass.event);
    let horizon_ms = match own.as_deref().and_then(|d| d.policy.flags.as_ref()) {
        Some(_) => HORIZON_MAX_MS,
        None => settings.flag_horizon_ms,
    };
    query.from_ms = Some(now_ms.saturating_sub(horizon_ms));
    match deadline(settings.store_timeout, settings.store.query_scans(query)).await {
        Ok(page) => RecentScans::from_records(&page.items),
        Err(error) => {
            metrics::counter!("scangate_flag_history_unread_total").increment(1);
            tracing::warn!(pass = %pass.id.short(), %error, "recent scans not read; flags start without history");
            RecentScans::default()
        }
    }
}
