//! Fraud flags and security incidents as `GET /v1/flags` and
//! `GET /v1/incidents` answer them: [`FlagView`], [`IncidentView`], and
//! [`FlagName`], the flags' spellings for the OpenAPI document.

use crate::types::rfc3339;
use scangate_core::ScanRecord;
use scangate_core::flags::Flag;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One flag one scan raised (a scan with two flags is two views). It holds
/// no token and no display text: a viewer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlagView {
    /// When the gateway decided the scan, RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// The flag.
    #[schema(value_type = FlagName)]
    pub kind: String,
    /// The scan's id.
    pub scan_id: String,
    /// The pass's event.
    pub event: String,
    /// The pass (32 hex digits).
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub pass_id: String,
    /// The device that scanned (its certificate name).
    pub device: String,
    /// The gate.
    pub gate: String,
    /// `granted`, or the denial reason (a flag the policy denies is its
    /// own reason, e.g. `rapid_rescan`).
    pub decision: String,
}

impl FlagView {
    /// One view per flag of `record`, only of `kind` when named.
    pub fn of_record(record: &ScanRecord, kind: Option<Flag>) -> Vec<FlagView> {
        let wanted = |f: &&Flag| kind.is_none_or(|k| k == **f);
        record
            .flags
            .iter()
            .filter(wanted)
            .map(|flag| FlagView {
                at: rfc3339(record.at_ms),
                kind: flag.as_str().to_owned(),
                scan_id: record.scan_id.to_string(),
                event: record.event.clone(),
                pass_id: record.pass_id.to_string(),
                device: record.device.clone(),
                gate: record.gate.clone(),
                decision: record
                    .decision
                    .reason()
                    .map_or("granted", |r| r.as_str())
                    .to_owned(),
            })
            .collect()
    }
}

/// A forged or malformed token the gateway refused. It never holds the
/// token: only the first 8 hex digits of its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentView {
    /// Its place in the log; pass it as `after` for the incidents after it.
    pub seq: u64,
    /// When the gateway refused it, RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// The device that sent it (its certificate name).
    pub device: String,
    /// The gate it named.
    pub gate: String,
    /// `forged` or `malformed`.
    pub reason: String,
    /// The first 8 hex digits of the token's SHA-256.
    pub fingerprint: String,
    /// The flags it raised (`forgery_burst`).
    #[schema(value_type = Vec<FlagName>)]
    pub flags: Vec<String>,
}

/// A fraud flag's spelling: one of [`Flag::ALL`].
pub struct FlagName;

impl utoipa::PartialSchema for FlagName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Flag::ALL.map(Flag::as_str)))
            .description(Some("A fraud flag"))
            .into()
    }
}

impl ToSchema for FlagName {}
