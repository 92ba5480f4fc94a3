//! Reads a floor run back for the checker: the event's scan log in the
//! gateway's order, and the zones' occupancy (where the gateway has the
//! route).

use super::setup::FloorSetup;
use crate::LoadError;
use crate::admin::{Admin, LIST_LIMIT};
use crate::clock::Clock;
use crate::history::History;
use crate::profile::SCANS_MAX;
use crate::setup::Pools;
use std::collections::{BTreeMap, HashMap};

/// Most pages of the event's scan log read back (1,000 scans each): the
/// tool's own limit of scans per run, with room for the checks' extra.
pub const EVENT_PAGES_MAX: usize = (SCANS_MAX as usize / LIST_LIMIT) + 1;

/// People inside each zone, by zone name.
pub type Occupancy = BTreeMap<String, u64>;

/// One record of the event's scan log, as the admin API listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventScan {
    /// The scan id.
    pub scan_id: String,
    /// The pass (an index into the history's passes).
    pub pass: u32,
    /// The gate.
    pub gate: String,
    /// Granted or denied.
    pub granted: bool,
    /// The pass's use count after the scan.
    pub uses_after: u32,
    /// When the gateway decided (Unix ms).
    pub at_ms: i64,
}

/// What the gateway says of the floor after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FloorObservation {
    /// This run's records of the event's scan log, in the gateway's order:
    /// decision time (`at_ms`), then the store's commit order within a
    /// millisecond (the order `GET /v1/scans?event=` lists them in).
    pub log: Vec<EventScan>,
    /// Occupancy before the run (`None`: no occupancy route).
    pub baseline: Option<Occupancy>,
    /// Occupancy after the run (`None`: no occupancy route).
    pub occupancy: Option<Occupancy>,
}

/// Reads the floor back after the run: the event's scan log since the
/// run started and the zones' occupancy now.
pub async fn read_back(
    admin: &Admin,
    floor: &FloorSetup,
    history: &History,
    pools: &Pools,
    clock: Clock,
) -> Result<FloorObservation, LoadError> {
    let index: HashMap<&str, u32> = pools
        .floor
        .iter()
        .filter_map(|f| Some((pools.passes.get(f.pass as usize)?.id.as_str(), f.pass)))
        .collect();
    let prefix = format!("{}-", history.run_id);
    let log = event_log(admin, &floor.event, clock.start_unix_ms, &prefix, &index).await?;
    let mut notes = Vec::new();
    let occupancy = match floor.baseline {
        Some(_) => occupancy(admin, &floor.event, &mut notes).await?,
        // No route before the run: none after it.
        None => None,
    };
    Ok(FloorObservation {
        log,
        baseline: floor.baseline.clone(),
        occupancy,
    })
}

/// Reads this run's records of `event`'s scan log since `from_ms`, in the
/// gateway's order. `index` maps pass ids to the history's indices; scans
/// of other passes or runs are left out.
pub async fn event_log(
    admin: &Admin,
    event: &str,
    from_ms: i64,
    run_prefix: &str,
    index: &HashMap<&str, u32>,
) -> Result<Vec<EventScan>, LoadError> {
    let from = scangate_api::rfc3339(from_ms);
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..EVENT_PAGES_MAX {
        let page = admin.event_scans(event, &from, after.as_deref()).await?;
        for v in page.items {
            let Some(&pass) = index.get(v.pass_id.as_str()) else {
                continue;
            };
            if v.scan_id.starts_with(run_prefix) {
                out.push(EventScan {
                    at_ms: crate::observe::parse_ms(&v.at),
                    granted: v.decision == "granted",
                    scan_id: v.scan_id,
                    pass,
                    gate: v.gate,
                    uses_after: v.uses_after,
                });
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
    Err(LoadError::Admin(format!(
        "more than {EVENT_PAGES_MAX} pages of scans of {event} since the run started"
    )))
}

/// The occupancy of `event`'s zones, `None` (with a note) when the
/// gateway has no occupancy route or answers in a shape this tool does
/// not read.
pub async fn occupancy(
    admin: &Admin,
    event: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Occupancy>, LoadError> {
    let Some(answer) = admin.occupancy(event).await? else {
        let note = format!(
            "GET /v1/events/{event}/occupancy answered 404 (a gateway without the route): occupancy not read back"
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
        return Ok(None);
    };
    if answer.get("exact").and_then(serde_json::Value::as_bool) == Some(false) {
        notes.push(format!(
            "GET /v1/events/{event}/occupancy counts this gateway's own passes only (a store shared with other gateways): occupancy not compared"
        ));
        return Ok(None);
    }
    let read = parse_occupancy(&answer);
    if read.is_none() {
        notes.push(format!(
            "GET /v1/events/{event}/occupancy answered a shape this tool does not read: occupancy not compared"
        ));
    }
    Ok(read)
}

/// Reads `{"zones": [{"zone"|"name": Z, "inside": N}, ...]}` or the bare
/// array; `None` for anything else.
pub fn parse_occupancy(v: &serde_json::Value) -> Option<Occupancy> {
    let items = v.get("zones").unwrap_or(v).as_array()?;
    let mut out = Occupancy::new();
    for item in items {
        let name = item.get("zone").or_else(|| item.get("name"))?.as_str()?;
        let inside = item
            .get("inside")
            .or_else(|| item.get("occupancy"))?
            .as_u64()?;
        out.insert(name.to_owned(), inside);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupancy_is_read_from_either_shape_and_nothing_else() {
        // The gateway's `OccupancyView`.
        let zones = serde_json::json!({"event": "e", "zones": [
            {"zone": "hall", "inside": 3, "capacity": 5, "free": 2},
            {"zone": "stage", "parent": "hall", "inside": 0}],
            "held": 0, "elsewhere": 0, "exact": true});
        let read = parse_occupancy(&zones).expect("read");
        assert_eq!(read.get("hall"), Some(&3));
        assert_eq!(read.get("stage"), Some(&0));
        let bare = serde_json::json!([{"name": "hall", "inside": 1}]);
        assert_eq!(
            parse_occupancy(&bare).and_then(|o| o.get("hall").copied()),
            Some(1)
        );
        assert!(parse_occupancy(&serde_json::json!({"hall": 3})).is_none());
        assert!(parse_occupancy(&serde_json::json!([{"zone": "hall"}])).is_none());
    }
}
