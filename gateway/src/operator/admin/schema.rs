//! What the OpenAPI document says of the admin API's paths, queries and
//! bodies, for the handlers' `#[utoipa::path]` to name. The structs only
//! describe: the handlers read the raw query themselves
//! ([`super::params`]) so that every problem is a 400 naming the parameter.

use super::routes::ISSUE_SPECS_MAX;
use crate::operator::api::{DecisionWord, IssueRequest};
use crate::operator::journal::OperatorAction;
use scangate_api::ConflictKindName;
use scangate_core::{Kind, Reason, Status};
use scangate_storage::PassCondition;
use serde::Serialize;
use utoipa::openapi::Ref;
use utoipa::{IntoParams, ToSchema};

/// The body of `POST /v1/passes` as JSON: one spec or an array of specs
/// (NDJSON, one spec a line, with `Content-Type: application/x-ndjson`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum IssueBody {
    /// One spec (its `count` may ask for many identical passes).
    One(IssueRequest),
    /// Several specs (1 to 1000), issued all or none.
    #[schema(value_type = IssueSpecs)]
    Many(Vec<IssueRequest>),
}

/// An array of issue specs as the document describes it: 1 to
/// [`ISSUE_SPECS_MAX`] (an empty array issues nothing: 400).
pub struct IssueSpecs;

impl utoipa::PartialSchema for IssueSpecs {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ArrayBuilder::new()
            .items(Ref::from_schema_name("IssueRequest"))
            .min_items(Some(1))
            .max_items(Some(ISSUE_SPECS_MAX))
            .into()
    }
}

impl ToSchema for IssueSpecs {}

/// The `{id}` of every `/v1/passes/{id}/...` route: what `PassId` parses.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PassIdParam {
    /// The pass id, 32 hexadecimal digits.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub id: String,
}

/// The `{scan_id}` of `/v1/scans/{scan_id}/annul`: what `ScanId` accepts.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ScanIdParam {
    /// The scan id the scanner sent: 1 to 64 of `A-Z a-z 0-9 . _ : -`.
    #[param(pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub scan_id: String,
}

/// The `{name}` of `/v1/devices/{name}/revoke`: what a scanner
/// certificate's name may be.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeviceNameParam {
    /// The device's certificate name: 1 to 64 of `A-Z a-z 0-9 - _ .`, not
    /// starting with `.`.
    #[param(pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
}

/// The `{event}` of `/v1/events/{event}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EventNameParam {
    /// The event's name: 1 to 64 bytes of letters, digits, ASCII
    /// punctuation and inner spaces.
    #[param(max_length = 64)]
    pub event: String,
}

/// `GET /v1/passes` filters (with a [`Paging`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PassListQuery {
    /// Only this event's passes (1 to 64 bytes).
    #[param(min_length = 1, max_length = 64)]
    pub event: Option<String>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this status (`active`, `suspended`, `revoked`), or only passes
    /// `used_up` (count at `max_uses`) or `expired` (window ended), whatever
    /// their status.
    pub status: Option<StatusFilter>,
    /// `true`: each pass with its token (a dynamic pass: a freshly minted
    /// one). Role `admin` only (403 for the others); without it no list
    /// holds a token.
    pub tokens: Option<bool>,
}

/// What `GET /v1/passes?status=` takes: a stored status, or a condition
/// that follows from the count or the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Status `active`.
    Active,
    /// Status `suspended`.
    Suspended,
    /// Status `revoked`.
    Revoked,
    /// Its count has reached `max_uses`.
    UsedUp,
    /// Its window has ended.
    Expired,
}

impl std::str::FromStr for StatusFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "active" => StatusFilter::Active,
            "suspended" => StatusFilter::Suspended,
            "revoked" => StatusFilter::Revoked,
            "used_up" => StatusFilter::UsedUp,
            "expired" => StatusFilter::Expired,
            _ => {
                return Err(format!(
                    "unknown status {s:?}: expected active, suspended, revoked, used_up or expired"
                ));
            }
        })
    }
}

impl StatusFilter {
    /// The store query's `status` and `condition` for this filter at `now_ms`.
    pub fn split(self, now_ms: i64) -> (Option<Status>, Option<PassCondition>) {
        match self {
            StatusFilter::Active => (Some(Status::Active), None),
            StatusFilter::Suspended => (Some(Status::Suspended), None),
            StatusFilter::Revoked => (Some(Status::Revoked), None),
            StatusFilter::UsedUp => (None, Some(PassCondition::UsedUp)),
            StatusFilter::Expired => (None, Some(PassCondition::Expired { now_ms })),
        }
    }
}

/// The paging of every list: passes, scans, the audit log and the operator
/// journal.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size, 1 to 1000 (default: 100 for a page, 1000 for a pass's
    /// whole array of scans or audit records).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The cursor of the previous answer (`next`, or the `x-next-cursor`
    /// header of a pass's array): hex the server made; any other value is
    /// refused with 400.
    #[param(pattern = "^([0-9a-fA-F]{2}){1,96}$")]
    pub after: Option<String>,
}

/// The time window of every log list: scans, the audit log and the operator
/// journal (with a [`Paging`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogWindow {
    /// Records at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Records before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
}

/// The filters of every scan list (with a [`LogWindow`] and a [`Paging`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanFilters {
    /// Only scans at this gate (1 to 64 bytes).
    #[param(min_length = 1, max_length = 64)]
    pub gate: Option<String>,
    /// Only grants or only denials.
    pub decision: Option<DecisionWord>,
    /// Only denials for this reason.
    pub reason: Option<Reason>,
}

/// `GET /v1/scans` scope: exactly one of `pass` or `event` (a rule the
/// parameters' schemas cannot state: neither or both is a 400).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanScopeQuery {
    /// The scans of this pass (32 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub pass: Option<String>,
    /// The scans of this event (1 to 64 bytes).
    #[param(min_length = 1, max_length = 64)]
    pub event: Option<String>,
}

/// `GET /v1/audit`'s own parameter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditPassQuery {
    /// Only this pass's changes (32 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub pass: Option<String>,
}

/// `GET /v1/conflicts` filters (with a [`LogWindow`] over the time each
/// was recorded, and a [`Paging`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictFilters {
    /// Only this event's conflicts (1 to 64 bytes).
    #[param(min_length = 1, max_length = 64)]
    pub event: Option<String>,
    /// Only conflicts of this kind.
    #[param(value_type = Option<ConflictKindName>)]
    pub kind: Option<String>,
    /// Only this pass's conflicts (32 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub pass: Option<String>,
}

/// `GET /v1/audit/operator` filters (with a [`LogWindow`] and a [`Paging`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OperatorAuditQuery {
    /// Only this action.
    pub action: Option<OperatorAction>,
    /// Only actions by this token name (or `cli:USER`).
    pub who: Option<String>,
    /// Only actions on this subject: a token or device name, a pass or
    /// scan id, an event.
    pub subject: Option<String>,
}

/// `GET /v1/passes/{id}/qr` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrFormat {
    /// `svg` (default) or `png`.
    #[param(pattern = "^(svg|png)$")]
    pub format: Option<String>,
}

/// `GET /v1/flags` filters (with a [`LogWindow`] over the scans' times and
/// a [`Paging`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlagFilters {
    /// The event whose flags to list (1 to 64 bytes; required).
    #[param(min_length = 1, max_length = 64)]
    pub event: String,
    /// Only this flag.
    #[param(value_type = Option<scangate_api::FlagName>)]
    pub kind: Option<String>,
}

/// `GET /v1/incidents` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentFilters {
    /// Only this device's incidents.
    pub device: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `seq` of the last incident seen (the previous page's `next`).
    #[param(pattern = "^[0-9]{1,19}$")]
    pub after: Option<String>,
}
