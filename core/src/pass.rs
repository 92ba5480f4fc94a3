//! The pass model: identifiers, fields, their limits, and admin transitions.

use data_encoding::{HEXLOWER, HEXLOWER_PERMISSIVE};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Longest event name, in bytes. Event names are short slugs (`fest-2026`).
pub const EVENT_MAX_BYTES: usize = 64;
/// Longest gate name, in bytes.
pub const GATE_MAX_BYTES: usize = 64;
/// Most gates one pass may be restricted to; a larger venue uses zones.
pub const GATES_MAX: usize = 32;
/// Most zones one pass may list: a ticket names one area or a few (hall,
/// lounge, backstage); an event defines at most
/// [`EVENT_ZONES_MAX`](crate::event::EVENT_ZONES_MAX).
pub const PASS_ZONES_MAX: usize = 16;
/// Largest display payload, in bytes: a name and a seat, not a document.
pub const DISPLAY_MAX_BYTES: usize = 1024;
/// Longest reason an operator may give for an admin change, in bytes.
pub const REASON_MAX_BYTES: usize = 256;
/// Longest lifetime of a dynamic pass's tokens, in seconds (one day): a
/// dynamic token is meant to be refreshed by the holder's app, and one that
/// lives for days defeats the point (an old screenshot keeps working).
pub const DYNAMIC_TTL_MAX_S: u32 = 24 * 3600;
/// Lifetime of a dynamic pass's tokens when the issuer names none (30 minutes).
pub const DYNAMIC_TTL_DEFAULT_S: u32 = 30 * 60;
/// Most re-issues of one pass (255): its generation is one byte of its
/// tokens, the most a token may grow and stay within
/// [`TOKEN_MAX_CHARS`](crate::token::TOKEN_MAX_CHARS). A pass re-issued
/// that often is a case for a new pass.
pub const REISSUE_MAX: u8 = u8::MAX;

/// A pass identifier: 128 random bits, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PassId(pub [u8; 16]);

impl PassId {
    /// The first 8 hex digits: enough to tell passes apart on a dashboard or in
    /// a log line without printing the whole identifier.
    pub fn short(&self) -> String {
        HEXLOWER.encode(&self.0[..4])
    }
}

impl fmt::Display for PassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for PassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PassId({self})")
    }
}

/// A pass id that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a pass id is 32 hexadecimal digits")]
pub struct PassIdError;

impl FromStr for PassId {
    type Err = PassIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 16];
        if s.len() != 32 {
            return Err(PassIdError);
        }
        // Either case is accepted; `Display` writes lowercase.
        HEXLOWER_PERMISSIVE
            .decode_mut(s.as_bytes(), &mut id)
            .map_err(|_| PassIdError)?;
        Ok(PassId(id))
    }
}

/// In the admin API's OpenAPI document: a string of 32 lowercase hex digits.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for PassId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9a-f]{32}$"))
            .description(Some("A pass id: 32 lowercase hexadecimal digits."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for PassId {}

impl Serialize for PassId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PassId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What kind of thing the pass is. The kind does not change the rules today;
/// it tells operators and scanners what they are looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An event ticket (the default).
    #[default]
    Ticket,
    /// A multi-use pass (staff, season, press).
    Pass,
    /// A code for a door or an area.
    AccessCode,
    /// A shared business card: resolves to the display payload its holder chose.
    CardShare,
}

impl Kind {
    /// The contract spelling, e.g. `access_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Pass => "pass",
            Kind::AccessCode => "access_code",
            Kind::CardShare => "card_share",
        }
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ticket" => Ok(Kind::Ticket),
            "pass" => Ok(Kind::Pass),
            "access_code" => Ok(Kind::AccessCode),
            "card_share" => Ok(Kind::CardShare),
            _ => Err(format!(
                "unknown kind {s:?}: expected ticket, pass, access_code or card_share"
            )),
        }
    }
}

/// Whether a pass may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Usable, subject to its window, gates and use limit.
    #[default]
    Active,
    /// Temporarily blocked; an operator may reactivate it.
    Suspended,
    /// Blocked; only an explicit reactivate makes it usable again.
    Revoked,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 3] = [Status::Active, Status::Suspended, Status::Revoked];

    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
        }
    }
}

/// The inverse of [`Status::as_str`].
impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}: expected active, suspended or revoked"))
    }
}

/// A pass: what it admits to, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    /// Random 128-bit identifier.
    pub id: PassId,
    /// The event the pass belongs to.
    pub event: String,
    /// What kind of pass this is.
    pub kind: Kind,
    /// Whether it may be used at all.
    pub status: Status,
    /// The operator's reason for the last status change, if any.
    pub status_reason: Option<String>,
    /// Start of validity (Unix milliseconds, UTC), inclusive; `None`: always.
    pub valid_from_ms: Option<i64>,
    /// End of validity (Unix milliseconds, UTC), exclusive; `None`: never ends.
    pub valid_until_ms: Option<i64>,
    /// Most grants this pass may ever receive; `None`: unlimited.
    pub max_uses: Option<u32>,
    /// Grants so far.
    pub uses: u32,
    /// Gates it admits to; empty admits to every gate of its event.
    pub gates: Vec<String>,
    /// What a scanner may show on a grant (never more than the holder agreed to share).
    pub display: Option<String>,
    /// When the pass was issued (Unix milliseconds).
    pub created_ms: i64,
    /// `Some(ttl)`: a dynamic pass. Its holder shows short-lived tokens that
    /// expire `ttl` seconds after they are minted, and a token without an
    /// expiry (the static one) is refused as `expired` (see
    /// [`crate::rules`]). `None`: a static pass (the default).
    #[serde(default)]
    pub dynamic_ttl_s: Option<u32>,
    /// When the status last changed (Unix ms, the gateway's clock at the
    /// admin change); `None`: never changed since issue, or changed before
    /// the field existed. Reconciling an offline scan compares it with the
    /// device's scan time (`revoked_before_scan`, `suspended_before_scan`).
    #[serde(default)]
    pub status_since_ms: Option<i64>,
    /// How many times the pass was re-issued (`scangate pass reissue`),
    /// bound into its tokens: a token of an older generation is denied
    /// `superseded`. 0 (never; every pass stored before the field existed)
    /// signs the same tokens as before generations existed.
    #[serde(default)]
    pub token_generation: u8,
    /// A card share's structured fields with the holder's share choices;
    /// like `display`, personal data: stored sealed, erased with the pass's
    /// key. `None`: no card (every pass issued before the field existed).
    /// Boxed: most passes have none, and a pass travels in actor messages.
    #[serde(default)]
    pub card: Option<Box<Card>>,
    /// Zones it admits to in an event with a definition; empty admits to
    /// every zone (see [`crate::event`]).
    #[serde(default)]
    pub zones: Vec<String>,
    /// Where its holder is (volatile like `uses`: changed by granted entries
    /// and exits of an event with a definition).
    #[serde(default)]
    pub presence: Presence,
}

/// A pass field that breaks a limit or a rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PassError {
    /// A field is empty where a value is required.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// A field is longer than its limit.
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// The limit, in bytes.
        max: usize,
    },
    /// A name holds a character outside [`is_name_char`], or starts or
    /// ends with a space.
    #[error(
        "{field} may hold only letters, digits, ASCII punctuation and inner spaces \
         (no control or formatting characters)"
    )]
    Charset {
        /// The field's name.
        field: &'static str,
    },
    /// Too many gates.
    #[error("a pass admits to at most {GATES_MAX} gates")]
    TooManyGates,
    /// Too many zones.
    #[error("a pass admits to at most {PASS_ZONES_MAX} zones")]
    TooManyZones,
    /// `valid_until` is not after `valid_from`.
    #[error("valid_until must be later than valid_from")]
    EmptyWindow,
    /// `max_uses` of zero would never admit anyone.
    #[error("max_uses must be at least 1 (or unlimited)")]
    ZeroMaxUses,
    /// A dynamic token lifetime of zero, or above [`DYNAMIC_TTL_MAX_S`].
    #[error("dynamic_ttl_s must be between 1 and {DYNAMIC_TTL_MAX_S}")]
    DynamicTtl,
    /// The pass was re-issued [`REISSUE_MAX`] times already.
    #[error("the pass was re-issued {REISSUE_MAX} times already: issue a new pass")]
    ReissueLimit,
    /// `valid_until` is at or before the time of issue: the pass could
    /// never be used (checked at issue only, by [`Pass::check_issue`]).
    #[error("valid_until is in the past: a pass issued now could never be used")]
    EndsInPast,
}

impl PassError {
    /// The request field the error is about, as the admin API names it.
    pub fn field(&self) -> &'static str {
        match self {
            PassError::Empty { field }
            | PassError::TooLong { field, .. }
            | PassError::Charset { field } => field,
            PassError::TooManyGates => "gates",
            PassError::TooManyZones => "zones",
            PassError::EmptyWindow | PassError::EndsInPast => "valid_until",
            PassError::ZeroMaxUses => "max_uses",
            PassError::DynamicTtl => "dynamic_ttl_s",
            PassError::ReissueLimit => "reissue",
        }
    }
}

pub use crate::name::{check_name, is_name_char};
pub use card::{CARD_FIELD_MAX_BYTES, CARD_FIELDS, Card, CardError, CardField, SharedCard};
pub use presence::{Presence, ZONE_MAX_BYTES, ZoneName};
pub use transition::{AdminAction, TransitionError, transition};

mod card;
pub mod presence;
mod transition;

/// Checks that a free-text field is within its byte limit.
pub fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), PassError> {
    if value.len() > max {
        return Err(PassError::TooLong { field, max });
    }
    Ok(())
}

impl Pass {
    /// Checks every field against its limit. Called before a pass is stored.
    pub fn validate(&self) -> Result<(), PassError> {
        check_name("event", &self.event, EVENT_MAX_BYTES)?;
        if self.gates.len() > GATES_MAX {
            return Err(PassError::TooManyGates);
        }
        for gate in &self.gates {
            check_name("gate", gate, GATE_MAX_BYTES)?;
        }
        if self.zones.len() > PASS_ZONES_MAX {
            return Err(PassError::TooManyZones);
        }
        for zone in &self.zones {
            check_name("zone", zone, ZONE_MAX_BYTES)?;
        }
        if let Some(display) = &self.display {
            check_len("display", display, DISPLAY_MAX_BYTES)?;
        }
        if let Some(card) = &self.card {
            card.validate()?;
        }
        if let Some(reason) = &self.status_reason {
            check_len("reason", reason, REASON_MAX_BYTES)?;
        }
        if let (Some(from), Some(until)) = (self.valid_from_ms, self.valid_until_ms)
            && until <= from
        {
            return Err(PassError::EmptyWindow);
        }
        if self.max_uses == Some(0) {
            return Err(PassError::ZeroMaxUses);
        }
        if self
            .dynamic_ttl_s
            .is_some_and(|ttl| ttl == 0 || ttl > DYNAMIC_TTL_MAX_S)
        {
            return Err(PassError::DynamicTtl);
        }
        Ok(())
    }

    /// The checks of a pass being issued at `now_ms`: every limit of
    /// [`Pass::validate`], and a `valid_until` after `now_ms` (a pass that
    /// ends before it is issued is a mistake, never a useful pass).
    pub fn check_issue(&self, now_ms: i64) -> Result<(), PassError> {
        self.validate()?;
        if self.valid_until_ms.is_some_and(|until| until <= now_ms) {
            return Err(PassError::EndsInPast);
        }
        Ok(())
    }

    /// True when no scan at or after `now_ms` can be granted without an
    /// operator's change: revoked, used up, or past its validity window. Such
    /// a pass needs no resident state (its actor may stop at once; a later
    /// scan is decided from the store).
    pub fn is_spent(&self, now_ms: i64) -> bool {
        self.status == Status::Revoked
            || self.remaining() == Some(0)
            || self.valid_until_ms.is_some_and(|until| now_ms >= until)
    }

    /// Uses left before `used_up`; `None` when unlimited.
    pub fn remaining(&self) -> Option<u32> {
        self.max_uses.map(|max| max.saturating_sub(self.uses))
    }
}

#[cfg(test)]
pub(crate) mod tests;
