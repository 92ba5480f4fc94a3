//! What the store benches share: pass keys spread over the key space, and
//! the passes and grants they write (one event, one gate).

use scangate_core::{Decision, Kind, Pass, PassId, ScanId, ScanRecord, Status};
use scangate_storage::{Store, StoreError};

/// The key of the `n`th pass: a multiplicative hash first, so consecutive
/// passes land all over the tables, then `n` itself, so keys never collide.
pub fn pass_key(n: usize) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    k[8..].copy_from_slice(&(n as u64).to_be_bytes());
    k
}

/// Issues passes `0..passes` of `event`, 10k per `insert_passes` call.
pub async fn issue_passes(
    store: &dyn Store,
    passes: usize,
    event: &str,
    created_ms: i64,
) -> Result<(), StoreError> {
    for start in (0..passes).step_by(10_000) {
        let chunk = (start..(start + 10_000).min(passes))
            .map(|n| bench_pass(n, event, created_ms))
            .collect();
        store.insert_passes(chunk).await?;
    }
    Ok(())
}

/// An unlimited ticket for `event`, the `n`th.
fn bench_pass(n: usize, event: &str, created_ms: i64) -> Pass {
    Pass {
        id: PassId(pass_key(n)),
        event: event.into(),
        kind: Kind::Ticket,
        status: Status::Active,
        status_reason: None,
        valid_from_ms: None,
        valid_until_ms: None,
        max_uses: None,
        uses: 0,
        gates: vec!["north-1".into()],
        display: Some("Row 12 · Seat 34".into()),
        created_ms,
        dynamic_ttl_s: None,
        status_since_ms: None,
        token_generation: 0,
        card: None,
        zones: Vec::new(),
        presence: Default::default(),
    }
}

/// The grant that takes the `n`th pass to `uses_after` uses.
pub fn grant(scan_id: ScanId, n: usize, at_ms: i64, uses_after: u32, event: &str) -> ScanRecord {
    ScanRecord {
        scan_id,
        pass_id: PassId(pass_key(n)),
        at_ms,
        scanner_time_ms: at_ms,
        gate: "north-1".into(),
        device: "bench-scanner".into(),
        decision: Decision::Granted,
        uses_after,
        event: event.into(),
        annulled: None,
        offline: None,
        guard_override: None,
        flags: Vec::new(),
        movement: None,
    }
}
