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

/// Sets `scangate_zone_occupancy{event,zone}` (inside now) and
/// `scangate_zone_capacity{event,zone}` (zones with one) for every zone of
/// every definition, at scrape time: no cost on the scan path, and the
/// labels are bounded by the definitions (at most `EVENTS_MAX` events of
/// at most `EVENT_ZONES_MAX` zones).
pub fn sample_gauges(state: &AppState) {
    for (event, definition) in state.definitions.all() {
        let report = state.registry.occupancy().report(&event, &definition);
        for zone in report.zones {
            let labels = [("event", event.clone()), ("zone", zone.zone)];
            metrics::gauge!("scangate_zone_occupancy", &labels).set(zone.inside as f64);
            if let Some(capacity) = zone.capacity {
                metrics::gauge!("scangate_zone_capacity", &labels).set(capacity as f64);
            }
        }
    }
}
