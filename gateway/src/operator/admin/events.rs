//! Event definitions: `PUT /v1/events/{event}` (checked, stored durably,
//! then handed to the scan path at once; journaled `event.set`) and
//! `GET /v1/events/{event}`.

use super::failures::store_error;
use super::params::PathParam;
use super::schema::EventNameParam;
use crate::operator::api::{ApiError, ErrorBody};
use crate::operator::journal::{OperatorAction, OperatorRecord};
use crate::operator::state::{AppState, Who};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use scangate_core::event::EventDefinition;
use scangate_core::pass::{EVENT_MAX_BYTES, check_name};

fn event_name(event: &str) -> Result<(), ApiError> {
    check_name("event", event, EVENT_MAX_BYTES)
        .map_err(|e| ApiError::invalid("event", e.to_string()))
}

/// `PUT /v1/events/{event}`: sets the event's definition, replacing any.
/// A definition with problems is refused with every problem named, and
/// the old one stays.
#[utoipa::path(
    put,
    path = "/v1/events/{event}",
    operation_id = "set_event",
    tag = "events",
    params(EventNameParam),
    request_body(content = EventDefinition, description = "The event's gates, zones and policy (at most 128 KiB)"),
    responses(
        (status = 200, description = "The definition, stored and in force on this gateway", body = EventDefinition),
        (status = 400, description = "Not a definition, or an inconsistent one: every problem is named", body = ErrorBody),
        (status = 413, description = "The body is over 128 KiB, or the store holds its most definitions", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(state): State<AppState>,
    who: Who,
    PathParam(event): PathParam,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EventDefinition>, ApiError> {
    event_name(&event)?;
    let body = body.map_err(crate::operator::api::from_rejection)?;
    let definition: EventDefinition = scangate_api::from_json_object(&body)
        .map_err(|e| ApiError::invalid("definition", e.to_string()))?;
    definition
        .validate()
        .map_err(|problems| ApiError::invalid("definition", problems.to_string()))?;
    state
        .store
        .put_event(&event, &definition)
        .await
        .map_err(store_error)?;
    state.definitions.replace(&event, definition.clone());
    if state.store.shared() && definition.zones.iter().any(|z| z.capacity.is_some()) {
        crate::definitions::warn_shared_capacity();
    }
    tracing::info!(event = %event, who = %who.0.name, "event definition set");
    let detail = format!(
        "{} gates, {} zones",
        definition.gates.len(),
        definition.zones.len()
    );
    let entry = OperatorRecord::new(
        crate::now_ms(),
        who.0.name.clone(),
        OperatorAction::EventSet,
        &event,
    )
    .detail(detail);
    super::operator::record(&state, entry, &format!("the definition of {event} was set")).await?;
    Ok(Json(definition))
}

/// `GET /v1/events/{event}`: the event's definition.
#[utoipa::path(
    get,
    path = "/v1/events/{event}",
    operation_id = "show_event",
    tag = "events",
    params(EventNameParam),
    responses(
        (status = 200, description = "The definition", body = EventDefinition),
        (status = 400, description = "Not a valid event name", body = ErrorBody),
        (status = 404, description = "The event has no definition (it is decided as before definitions)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn show(
    State(state): State<AppState>,
    PathParam(event): PathParam,
) -> Result<Json<EventDefinition>, ApiError> {
    event_name(&event)?;
    match state.store.load_event(&event).await.map_err(store_error)? {
        Some(definition) => Ok(Json(definition)),
        None => Err(ApiError::not_found(format!(
            "event {event:?} has no definition"
        ))),
    }
}
