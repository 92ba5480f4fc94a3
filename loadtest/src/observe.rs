//! Reads back, through the admin API, every pass a run touched: its state,
//! its scans and (when not active) its audit log, for the checker.

use crate::LoadError;
use crate::admin::{Admin, LIST_LIMIT};
use crate::clock::Clock;
use crate::history::{FlaggedScan, History, PassObservation, StoredScan};
use crate::setup::Pools;
use scangate_api::ScanView;
use scangate_core::Status;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Admin requests in flight while reading back.
pub const READ_CONCURRENCY: usize = 16;
/// Most pages of conflicts read back (1,000 each): a run flags at most one
/// conflict per kind per offline grant, and runs with more than a few
/// hundred thousand offline grants are beyond this tool's outage scenario.
pub const CONFLICT_PAGES_MAX: usize = 1_000;

/// What the admin API returned for each touched pass, by pass index. A pass
/// that could not be read is missing (the checker reports it unchecked);
/// the first few errors are returned as well.
pub async fn read_back(
    admin: &Admin,
    history: &History,
    pools: &Arc<Pools>,
    clock: Clock,
) -> (HashMap<u32, PassObservation>, Vec<String>) {
    let touched: BTreeSet<u32> = history
        .ops
        .iter()
        .filter_map(|o| o.pass)
        .chain(history.revokes.iter().map(|r| r.pass))
        .collect();
    let mut out = HashMap::with_capacity(touched.len());
    let mut errors = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    let mut todo = touched.into_iter();
    loop {
        while set.len() < READ_CONCURRENCY {
            let Some(p) = todo.next() else { break };
            let (admin, pools) = (admin.clone(), pools.clone());
            let prefix = format!("{}-", history.run_id);
            set.spawn(async move { (p, observe(&admin, &pools, p, &prefix).await) });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        match joined {
            Ok((p, Ok(obs))) => {
                out.insert(p, obs);
            }
            Ok((_, Err(e))) if errors.len() < 5 => errors.push(e.to_string()),
            Ok(_) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !history.uploads.is_empty() {
        match conflicts(admin, history, pools, clock).await {
            Ok(mut flagged) => {
                for (p, obs) in &mut out {
                    obs.conflicts = flagged.remove(p).unwrap_or_default();
                }
            }
            Err(e) => {
                // Without the conflicts the flag rules cannot be judged.
                errors.push(e.to_string());
                out.clear();
            }
        }
    }
    (out, errors)
}

/// This run's conflicts (`GET /v1/conflicts` since the run started), by
/// pass index.
async fn conflicts(
    admin: &Admin,
    history: &History,
    pools: &Pools,
    clock: Clock,
) -> Result<HashMap<u32, Vec<FlaggedScan>>, LoadError> {
    let index: HashMap<&str, u32> = pools
        .passes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((p.id.as_str(), u32::try_from(i).ok()?)))
        .collect();
    let from = scangate_api::rfc3339(clock.start_unix_ms);
    let prefix = format!("{}-", history.run_id);
    let mut out: HashMap<u32, Vec<FlaggedScan>> = HashMap::new();
    let mut after: Option<String> = None;
    for _ in 0..CONFLICT_PAGES_MAX {
        let page = admin.conflicts(&from, after.as_deref()).await?;
        for c in page.items {
            let pass = c.pass_id.as_deref().and_then(|id| index.get(id));
            if let (Some(&p), true) = (pass, c.scan_id.starts_with(&prefix)) {
                out.entry(p).or_default().push(FlaggedScan {
                    scan_id: c.scan_id,
                    kind: c.kind,
                });
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
    Err(LoadError::Admin(format!(
        "more than {CONFLICT_PAGES_MAX} pages of conflicts since the run started"
    )))
}

/// Reads one pass. Its audit log is read when it is not active, or when its
/// use counter disagrees with this run's grants (an operator's `annul`
/// would explain that, and the checker must know).
async fn observe(
    admin: &Admin,
    pools: &Pools,
    p: u32,
    run_prefix: &str,
) -> Result<PassObservation, LoadError> {
    let entry = pools
        .passes
        .get(p as usize)
        .ok_or_else(|| LoadError::Admin(format!("no pass number {p}")))?;
    let pass = admin.pass(&entry.id).await?;
    let scans = admin.scans(&entry.id).await?;
    let granted = scans
        .iter()
        .filter(|s| s.decision == "granted" && s.scan_id.starts_with(run_prefix))
        .count() as u64;
    let agrees = u64::from(entry.uses_before) + granted == u64::from(pass.uses);
    let audit = if pass.status == Status::Active && agrees {
        Vec::new()
    } else {
        admin.audit(&entry.id).await?
    };
    Ok(PassObservation {
        max_uses: pass.max_uses,
        uses: pass.uses,
        uses_before: entry.uses_before,
        scans_complete: scans.len() < LIST_LIMIT,
        scans: scans.iter().map(stored).collect(),
        audit,
        conflicts: Vec::new(),
        presence: (pass.presence, pass.zone),
    })
}

fn stored(v: &ScanView) -> StoredScan {
    StoredScan {
        scan_id: v.scan_id.clone(),
        at_ms: parse_ms(&v.at),
        scanner_ms: parse_ms(&v.scanner_time),
        granted: v.decision == "granted",
        reason: v.reason.clone(),
        uses_after: v.uses_after,
    }
}

/// RFC 3339 as Unix ms (`i64::MIN` when unreadable: it then orders before
/// any revoke and breaks no rule by itself).
pub(crate) fn parse_ms(s: &str) -> i64 {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
        .unwrap_or(i64::MIN)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_gateway_times_to_the_millisecond() {
        assert_eq!(
            super::parse_ms("2026-07-01T10:00:00.123Z"),
            1_782_900_000_123
        );
        assert_eq!(super::parse_ms("nonsense"), i64::MIN);
    }
}
