//! Mid-run revokes: half of the revoked pool is revoked while the scans run,
//! spread over the window, and each revoke's start and completion recorded
//! for the checker's real-time rule.

use crate::admin::Admin;
use crate::clock::Clock;
use crate::history::RevokeOp;
use crate::setup::{Pools, REVOKE_REASON};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Mid-run revokes happen between these shares of the window: after the
/// first scans are in, and early enough that later scans meet the revoke.
const REVOKE_FROM_SHARE: f64 = 0.1;
const REVOKE_TO_SHARE: f64 = 0.6;

/// Revokes the mid-run half of the revoked pool, spread over the window;
/// stops once `stop` is cancelled (the schedule ended early).
pub(super) async fn revoke_during(
    admin: Admin,
    pools: Arc<Pools>,
    (begin, window): (Instant, Duration),
    clock: Clock,
    stop: CancellationToken,
) -> Vec<RevokeOp> {
    let n = pools.revoked_during.len().max(1) as f64;
    let mut done = Vec::new();
    for (j, &pass) in pools.revoked_during.iter().enumerate() {
        let share = REVOKE_FROM_SHARE + (REVOKE_TO_SHARE - REVOKE_FROM_SHARE) * j as f64 / n;
        tokio::select! {
            () = tokio::time::sleep_until((begin + window.mul_f64(share)).into()) => {}
            () = stop.cancelled() => break,
        }
        let invoked_ms = clock.unix_ms_now();
        let result = admin
            .revoke(&pools.passes[pass as usize].id, REVOKE_REASON)
            .await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "a mid-run revoke failed");
        }
        done.push(RevokeOp {
            pass,
            invoked_ms,
            completed_ms: result.ok().map(|_| clock.unix_ms_now()),
        });
    }
    done
}
