//! Conflicts (offline scans that broke a rule) as `GET /v1/conflicts`
//! answers them: [`ConflictView`], and [`ConflictKindName`], the kinds'
//! spellings for the OpenAPI document.

use crate::types::rfc3339;
use scangate_core::offline::messages::ConflictKind;
use scangate_core::scan::Conflict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A flagged offline scan, one per rule broken. It holds no token and no
/// display text: a viewer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConflictView {
    /// When the gateway recorded it (the upload's time), RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// The device's scan id.
    pub scan_id: String,
    /// The event (the pass's, when one was found; else the upload's).
    pub event: String,
    /// The pass; null for a forged token or a pass the gateway does not hold.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub pass_id: Option<String>,
    /// The rule broken.
    #[schema(value_type = ConflictKindName)]
    pub kind: String,
    /// The device that decided offline (its certificate name).
    pub device: String,
    /// The gate it stood at.
    pub gate: String,
    /// The device's clock at the scan, RFC 3339: recorded, never trusted.
    #[schema(format = DateTime)]
    pub device_time: String,
    /// For `over_limit`: the devices of the pass's other grants (online or
    /// offline), each once, oldest first, at most 16; empty for other kinds.
    pub other_devices: Vec<String>,
}

impl ConflictView {
    /// The view of a stored conflict and, for `over_limit`, the devices of
    /// the pass's other grants.
    pub fn new(c: &Conflict, other_devices: Vec<String>) -> Self {
        ConflictView {
            at: rfc3339(c.at_ms),
            scan_id: c.scan_id.to_string(),
            event: c.event.clone(),
            pass_id: c.pass_id.map(|p| p.to_string()),
            kind: c.kind.as_str().to_owned(),
            device: c.device.clone(),
            gate: c.gate.clone(),
            device_time: rfc3339(c.device_time_ms),
            other_devices,
        }
    }
}

/// A conflict kind's spelling: one of [`ConflictKind::ALL`].
pub struct ConflictKindName;

impl utoipa::PartialSchema for ConflictKindName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(ConflictKind::ALL.map(ConflictKind::as_str)))
            .description(Some("The rule an offline scan broke"))
            .into()
    }
}

impl ToSchema for ConflictKindName {}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::{PassId, ScanId};

    #[test]
    fn a_view_shows_times_as_rfc3339_and_a_missing_pass_as_null() {
        let c = Conflict {
            at_ms: 1_782_900_000_000,
            scan_id: ScanId::new("off-1").expect("scan id"),
            event: "fest".into(),
            pass_id: None,
            kind: ConflictKind::Forged,
            device: "gate-a-1".into(),
            gate: "north".into(),
            device_time_ms: 1_782_899_940_000,
        };
        let v = ConflictView::new(&c, Vec::new());
        assert_eq!(v.at, "2026-07-01T10:00:00Z");
        assert_eq!(v.device_time, "2026-07-01T09:59:00Z");
        assert_eq!((v.kind.as_str(), v.pass_id.as_deref()), ("forged", None));
        let json = serde_json::to_value(&v).expect("json");
        assert!(json["pass_id"].is_null(), "{json}");
        let with_pass = Conflict {
            pass_id: Some(PassId([0xab; 16])),
            ..c
        };
        let v = ConflictView::new(&with_pass, vec!["gate-b-2".into()]);
        assert_eq!(v.pass_id.as_deref(), Some("ab".repeat(16).as_str()));
        assert_eq!(v.other_devices, ["gate-b-2"]);
    }
}
