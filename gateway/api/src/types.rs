//! The admin API's JSON shapes and the plain translation between them and
//! the domain (a pass or a scan record to its view, RFC 3339 times). What
//! needs the server (signing a pass's token, fresh pass ids) is the
//! gateway's `api` module.

use crate::ApiError;
use scangate_core::pass::{Card, GATE_MAX_BYTES, Pass, Presence};
use scangate_core::{Kind, ScanRecord, Status};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Most passes one issue request may create. Bigger batches are split by the
/// client (`scangate pass issue --count` does this).
pub const ISSUE_MAX: u32 = 10_000;

/// `POST /v1/passes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The event: 1 to 64 bytes.
    #[schema(min_length = 1, max_length = 64)]
    pub event: String,
    /// `ticket` (default), `pass`, `access_code` or `card_share`.
    #[serde(default)]
    pub kind: Kind,
    /// Most uses, at least 1; default 1. Not with `unlimited`.
    #[schema(minimum = 1)]
    pub max_uses: Option<u32>,
    /// No use limit.
    #[serde(default)]
    pub unlimited: bool,
    /// Start of validity, RFC 3339.
    #[schema(format = DateTime)]
    pub valid_from: Option<String>,
    /// End of validity, RFC 3339.
    #[schema(format = DateTime)]
    pub valid_until: Option<String>,
    /// Gates the pass admits to (empty: all): at most 32, each 1 to 64 bytes.
    #[serde(default)]
    #[schema(max_items = 32, value_type = Vec<GateName>)]
    pub gates: Vec<String>,
    /// What a scanner may show on a grant: at most 1024 bytes.
    #[schema(max_length = 1024)]
    pub display: Option<String>,
    /// How many identical passes to issue (default 1, at most 10 000).
    #[schema(minimum = 1, maximum = 10_000)]
    pub count: Option<u32>,
    /// Make the passes dynamic: their QR codes carry tokens that expire this
    /// many seconds after they are minted (`GET /v1/passes/{id}/qr`), and the
    /// static token is refused. 1 to 86 400 (a day); `null`: static.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 86_400)]
    pub dynamic_ttl_s: Option<u32>,
    /// A card share's structured fields (`name`, `email`, `phone`,
    /// `company`, `title`, `links`), each `{"value", "shared", "consent_ms"}`:
    /// the holder's choice whether a scan reveals it, and when they made it.
    /// Values at most 256 bytes. Personal data: sealed at rest, erased with
    /// the pass, never shown to a `viewer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Box<Card>>,
    /// Zones the pass admits to in an event with a definition (empty:
    /// every zone): at most 16, each 1 to 64 bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 16, value_type = Vec<GateName>)]
    pub zones: Vec<String>,
}

// The limits the OpenAPI document states as literals (utoipa's attributes
// take no constants) are the ones `Pass::validate` enforces.
const _: () = assert!(
    scangate_core::pass::EVENT_MAX_BYTES == 64
        && GATE_MAX_BYTES == 64
        && scangate_core::pass::GATES_MAX == 32
        && scangate_core::pass::DISPLAY_MAX_BYTES == 1024
        && scangate_core::pass::REASON_MAX_BYTES == 256
        && scangate_core::pass::DYNAMIC_TTL_MAX_S == 86_400
        && ISSUE_MAX == 10_000
        && scangate_core::pass::PASS_ZONES_MAX == 16
        && scangate_core::pass::ZONE_MAX_BYTES == 64
);

/// A gate name in an issue request, as the OpenAPI document describes it:
/// 1 to [`GATE_MAX_BYTES`] bytes.
pub struct GateName;

impl utoipa::PartialSchema for GateName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(GATE_MAX_BYTES))
            .description(Some("A gate name: 1 to 64 bytes."))
            .into()
    }
}

impl ToSchema for GateName {}

/// A pass as the admin API shows it. To a caller whose role may not hold
/// tokens (`operator` and `admin` may), `token` is absent and `display`
/// null: see [`PassView::withheld`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PassView {
    /// 32 hex digits.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub id: String,
    /// The signed token to put in the QR code. Only for roles `operator`
    /// and `admin`: absent for a `viewer` (empty here when absent).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// The event.
    pub event: String,
    /// The kind.
    pub kind: Kind,
    /// `active`, `suspended` or `revoked`.
    pub status: Status,
    /// The reason given with the last status change.
    pub status_reason: Option<String>,
    /// Use limit; `null` = unlimited.
    pub max_uses: Option<u32>,
    /// Uses so far.
    pub uses: u32,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub valid_from: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub valid_until: Option<String>,
    /// Gates (empty: all).
    pub gates: Vec<String>,
    /// Display payload (holder data): `null` for a `viewer`.
    pub display: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Dynamic pass: lifetime of its minted tokens, seconds; absent when static.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_ttl_s: Option<u32>,
    /// The card with its share choices and consent times (holder data):
    /// absent for a `viewer`, and when the pass has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
    /// Zones it admits to (empty: every zone); absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Where its holder is: `outside` (never scanned in), `left` (scanned
    /// out) or `inside`; only an event with a definition moves it.
    #[serde(default = "outside")]
    pub presence: String,
    /// The zone the holder is in, when inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

fn outside() -> String {
    "outside".to_owned()
}

impl PassView {
    /// The view with `token` (signed by the server for a caller allowed to
    /// hold it) and the display payload.
    pub fn with_token(pass: &Pass, token: String) -> Self {
        PassView {
            token,
            display: pass.display.clone(),
            card: pass.card.as_deref().cloned(),
            ..PassView::withheld(pass)
        }
    }

    /// The view without the token and the display payload (holder data):
    /// what a read-only role sees, so it can neither copy a ticket nor read
    /// what the holder shares.
    pub fn withheld(pass: &Pass) -> Self {
        PassView {
            id: pass.id.to_string(),
            token: String::new(),
            event: pass.event.clone(),
            kind: pass.kind,
            status: pass.status,
            status_reason: pass.status_reason.clone(),
            max_uses: pass.max_uses,
            uses: pass.uses,
            valid_from: pass.valid_from_ms.map(rfc3339),
            valid_until: pass.valid_until_ms.map(rfc3339),
            gates: pass.gates.clone(),
            display: None,
            created_at: rfc3339(pass.created_ms),
            dynamic_ttl_s: pass.dynamic_ttl_s,
            card: None,
            zones: pass.zones.clone(),
            presence: match pass.presence {
                Presence::Outside => "outside",
                Presence::Left => "left",
                Presence::Inside(_) => "inside",
            }
            .to_owned(),
            zone: pass.presence.zone().map(|z| z.as_str().to_owned()),
        }
    }
}

/// A scan as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScanView {
    /// The scanner's scan id.
    pub scan_id: String,
    /// The pass.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub pass_id: String,
    /// When the gateway decided, RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// The scanner's clock, RFC 3339.
    #[schema(format = DateTime)]
    pub scanner_time: String,
    /// Gate.
    pub gate: String,
    /// Device (certificate name).
    pub device: String,
    /// `granted` or `denied`.
    #[schema(value_type = DecisionWord)]
    pub decision: String,
    /// Denial reason, or null.
    #[schema(value_type = Option<scangate_core::Reason>)]
    pub reason: Option<String>,
    /// Use count after this scan.
    pub uses_after: u32,
    /// When an operator annulled this grant (RFC 3339), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub annulled_at: Option<String>,
    /// Who annulled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annulled_by: Option<String>,
    /// Set when a guard admitted the pass by hand (an override): who, why,
    /// and the denial the rules would have given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_override: Option<scangate_core::scan::GuardOverride>,
}

impl From<&ScanRecord> for ScanView {
    fn from(r: &ScanRecord) -> Self {
        ScanView {
            scan_id: r.scan_id.to_string(),
            pass_id: r.pass_id.to_string(),
            at: rfc3339(r.at_ms),
            scanner_time: rfc3339(r.scanner_time_ms),
            gate: r.gate.clone(),
            device: r.device.clone(),
            decision: decision_word(r.decision.is_granted()).to_owned(),
            reason: r.decision.reason().map(|x| x.as_str().to_owned()),
            uses_after: r.uses_after,
            annulled_at: r.annulled.as_ref().map(|a| rfc3339(a.at_ms)),
            annulled_by: r.annulled.as_ref().map(|a| a.who.clone()),
            guard_override: r.guard_override.as_deref().cloned(),
        }
    }
}

/// A scan's outcome.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionWord {
    /// Let in; the use was counted.
    Granted,
    /// Kept out; see `reason`.
    Denied,
}

/// `granted` or `denied`.
pub fn decision_word(granted: bool) -> &'static str {
    if granted { "granted" } else { "denied" }
}

/// Unix milliseconds as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{ms}ms"))
}

/// RFC 3339 as Unix milliseconds.
pub fn parse_rfc3339(field: &'static str, s: &str) -> Result<i64, ApiError> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        ApiError::invalid(
            field,
            format!("{s:?} is not an RFC 3339 time such as 2026-07-01T18:00:00Z"),
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::invalid(field, "time out of range"))
}

/// A pagination answer: `{"items": [...], "next": "hex" | null}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PageView<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `null` at the end.
    pub next: Option<String>,
}

/// One rejected CSV line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Rejected {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The offending column, if one.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// The answer to an import.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Passes imported.
    pub imported: usize,
    /// Lines rejected (all of them, even beyond the detailed list).
    pub rejected_count: usize,
    /// Blank lines after the header, skipped. `imported + rejected_count +
    /// blank_lines` is the number of lines after the header.
    #[serde(default)]
    pub blank_lines: usize,
    /// The imported passes, in file order.
    pub passes: Vec<PassView>,
    /// Why lines were rejected (at most the server's `IMPORT_REJECTS_REPORTED_MAX`, 1 000).
    pub rejected: Vec<Rejected>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_a_bad_one_names_its_field() {
        assert_eq!(rfc3339(1_782_900_000_000), "2026-07-01T10:00:00Z");
        assert_eq!(
            parse_rfc3339("valid_from", "2026-07-01T10:00:00Z").ok(),
            Some(1_782_900_000_000)
        );
        let e = parse_rfc3339("valid_until", "tomorrow").expect_err("not a time");
        assert_eq!(
            (e.status, e.field.as_deref()),
            (http::StatusCode::BAD_REQUEST, Some("valid_until"))
        );
    }
}
