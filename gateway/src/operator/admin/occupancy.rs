//! `GET /v1/events/{event}/occupancy`: who is inside each zone of an event
//! now, against its capacity. Counts only, no pass and no personal data:
//! a viewer reads it.

use super::params::PathParam;
use super::schema::EventNameParam;
use crate::operator::api::{ApiError, ErrorBody};
use crate::operator::state::AppState;
use axum::Json;
use axum::extract::State;
use scangate_core::event::{Definitions, ZoneCount};
use scangate_core::pass::{EVENT_MAX_BYTES, check_name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An event's zones with who is inside each now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OccupancyView {
    /// The event.
    pub event: String,
    /// Every zone of its definition, in the definition's order. A zone
    /// counts the passes inside it and inside the zones within it.
    pub zones: Vec<ZoneCount>,
    /// Entries granted a place whose commit is still in flight (not yet in
    /// `inside`).
    pub held: u64,
    /// Passes inside zones the definition no longer names.
    pub elsewhere: u64,
    /// `false` on a store shared with other gateways: the counts are this
    /// gateway's own (exact only when it alone serves the event).
    pub exact: bool,
}

/// `GET /v1/events/{event}/occupancy`.
#[utoipa::path(
    get,
    path = "/v1/events/{event}/occupancy",
    operation_id = "event_occupancy",
    tag = "events",
    params(EventNameParam),
    responses(
        (status = 200, description = "Every zone: inside now, capacity, places free", body = OccupancyView),
        (status = 400, description = "Not a valid event name", body = ErrorBody),
        (status = 404, description = "The event has no definition (it has no zones)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn occupancy(
    State(state): State<AppState>,
    PathParam(event): PathParam,
) -> Result<Json<OccupancyView>, ApiError> {
    check_name("event", &event, EVENT_MAX_BYTES)
        .map_err(|e| ApiError::invalid("event", e.to_string()))?;
    let Some(definition) = state.definitions.definition(&event) else {
        return Err(ApiError::not_found(format!(
            "event {event:?} has no definition"
        )));
    };
    let report = state.registry.occupancy().report(&event, &definition);
    Ok(Json(OccupancyView {
        event,
        zones: report.zones,
        held: report.held,
        elsewhere: report.elsewhere,
        exact: !state.store.shared(),
    }))
}

/// `scangate_zone_occupancy{event,zone}` (inside now) and
/// `scangate_zone_capacity{event,zone}` (zones with one) for every zone of
/// every definition as it stands, in the Prometheus text format, to append
/// to `/metrics`: made at scrape time, so no cost on the scan path, and
/// written here rather than through the metrics recorder, which cannot
/// forget a series: a zone a new definition dropped, or an event whose
/// definition was removed, is gone from the next scrape. The labels are
/// bounded by the definitions (at most `EVENTS_MAX` events of at most
/// `EVENT_ZONES_MAX` zones).
pub fn gauges_text(state: &AppState) -> String {
    let mut definitions = state.definitions.all();
    definitions.sort_by(|a, b| a.0.cmp(&b.0));
    let reports: Vec<(String, Vec<ZoneCount>)> = definitions
        .into_iter()
        .map(|(event, def)| {
            let zones = state.registry.occupancy().report(&event, &def).zones;
            (event, zones)
        })
        .collect();
    let mut out = String::new();
    gauge_family(&mut out, &reports, OCCUPANCY_GAUGE, |z| Some(z.inside));
    gauge_family(&mut out, &reports, CAPACITY_GAUGE, |z| z.capacity);
    out
}

/// Name and help of the gauge of who is inside each zone.
const OCCUPANCY_GAUGE: (&str, &str) = (
    "scangate_zone_occupancy",
    "Passes inside each zone of an event's definition now (entries minus exits, nested zones included)",
);

/// Name and help of the gauge of each zone's capacity.
const CAPACITY_GAUGE: (&str, &str) = (
    "scangate_zone_capacity",
    "Capacity of each zone of an event's definition that has one",
);

/// One gauge family: its help and type lines, then a sample per zone that
/// `value` gives one for; nothing when no zone does.
fn gauge_family<T: std::fmt::Display>(
    out: &mut String,
    reports: &[(String, Vec<ZoneCount>)],
    (name, help): (&str, &str),
    value: impl Fn(&ZoneCount) -> Option<T>,
) {
    use metrics_exporter_prometheus::formatting::{
        sanitize_label_value, write_help_line, write_type_line,
    };
    use std::fmt::Write;
    let mut header = false;
    for (event, zones) in reports {
        for zone in zones {
            let Some(v) = value(zone) else { continue };
            if !header {
                write_help_line(out, name, None, None, help);
                write_type_line(out, name, None, None, "gauge");
                header = true;
            }
            let (e, z) = (
                sanitize_label_value(event),
                sanitize_label_value(&zone.zone),
            );
            // Writing into a String cannot fail.
            let _ = writeln!(out, "{name}{{event=\"{e}\",zone=\"{z}\"}} {v}");
        }
    }
}
